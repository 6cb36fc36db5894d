"""Bad input is refused with a message naming the cause and the fix, and nothing is written."""

import sqlite3

import pytest

from metamorph.errors import (
    InvalidRemapRule,
    InvalidVaultId,
    MappingFileInvalid,
    NotMigrated,
    SourceVaultMissing,
)
from metamorph.remap import MoveVault, SplitByMapping, SplitByOwner, build_plan, validate_vault_id
from metamorph.remap.csvmap import parse_mapping_csv

from .helpers import file_digest, mapping_csv, roots


@pytest.mark.parametrize(
    "value, why",
    [
        ("", "it is empty"),
        ("a" * 129, "it has 129 characters (at most 128)"),
        ("alice:1", "it contains ':'"),
        ("al ice", "it contains ' '"),
        ("é", "it contains 'é'"),
        ("ok\n", "it contains '\\n'"),
    ],
)
def test_invalid_vault_id_is_refused_with_the_rule_and_why_colons_are_refused(value, why):
    with pytest.raises(InvalidVaultId) as err:
        validate_vault_id(value, "target vault")
    text = str(err.value)
    assert why in text
    assert "1–128 characters from letters" in text
    assert "session keys as <vault>:<session>" in text


def test_valid_vault_ids_pass():
    for value in ("user-0001", "a", "A.b_c-d@example.com", "x" * 128):
        assert validate_vault_id(value) == value


def test_move_to_an_invalid_target_is_refused_before_the_database_is_opened(tmp_path):
    with pytest.raises(InvalidVaultId, match="target vault 'bob:1'"):
        build_plan(str(tmp_path / "does-not-exist.db"), MoveVault("bob:1"))


def test_move_to_the_source_itself_is_refused():
    with pytest.raises(InvalidRemapRule, match="is the source vault itself"):
        MoveVault("default-vault").validate()


def test_owner_prefix_outside_the_id_rules_is_refused():
    with pytest.raises(InvalidRemapRule, match="prefix 'user:' cannot start a vault id"):
        SplitByOwner("sessions", "created_by", prefix="user:").validate()


def test_a_database_not_yet_migrated_is_refused_with_the_migration_to_run(metamorph_db):
    path = metamorph_db("legacy")
    before = file_digest(path)
    with pytest.raises(NotMigrated) as err:
        build_plan(path, MoveVault("user-alice"))
    assert "Run migration 001 first" in str(err.value)
    assert "runmigration --migration=001_add_vault_id" in str(err.value)
    assert "conversations" in err.value.tables
    assert file_digest(path) == before


def test_a_source_vault_that_does_not_exist_is_refused_listing_the_vaults_present(metamorph_db):
    path = metamorph_db("migrated")
    with pytest.raises(SourceVaultMissing) as err:
        build_plan(path, MoveVault("user-alice", source="no-such-vault"))
    assert "No row is in vault 'no-such-vault'" in str(err.value)
    assert "'default-vault'" in str(err.value)


def test_owner_column_that_does_not_exist_is_refused(metamorph_db):
    with pytest.raises(InvalidRemapRule, match="sessions has no column 'created_by'"):
        build_plan(metamorph_db("migrated"), SplitByOwner("sessions", "created_by"))


# --- mapping files -------------------------------------------------------------------------


def problems_of(data, **limits):
    with pytest.raises(MappingFileInvalid) as err:
        parse_mapping_csv(data, **limits)
    return err.value


def test_mapping_file_with_wrong_columns_names_the_header_expected():
    err = problems_of(b"conversation,vault\nabc,user-1\n")
    assert "line 1: the header is 'conversation,vault'" in str(err)
    assert "'conversation_id,vault_id' or 'session_id,vault_id'" in str(err)


def test_mapping_file_rows_with_a_wrong_number_of_columns_name_their_line():
    err = problems_of(b"conversation_id,vault_id\nabc,user-1\nabc\ndef,user-2,extra\n")
    assert "line 3: expected 2 columns (conversation_id, vault_id), found 1" in str(err)
    assert "line 4: expected 2 columns (conversation_id, vault_id), found 3" in str(err)
    assert err.total == 2


def test_mapping_file_mapping_one_id_to_two_vaults_names_both_lines():
    err = problems_of(b"session_id,vault_id\ns1,user-a\ns2,user-b\ns1,user-c\n")
    assert "line 4: session_id 's1' is mapped to 'user-a' on line 2 and to 'user-c' here" in str(
        err
    )


def test_mapping_file_repeating_the_same_pair_is_accepted():
    key, mapping, lines = parse_mapping_csv(b"session_id,vault_id\ns1,user-a\ns1,user-a\n")
    assert (key, mapping, lines) == ("session_id", {"s1": "user-a"}, {"s1": 2})


def test_mapping_file_with_invalid_vault_ids_names_the_line_and_explains_the_rule():
    err = problems_of(b"conversation_id,vault_id\nc1,alice:1\nc2,\n")
    text = str(err)
    assert "line 2: vault id 'alice:1' is not valid: it contains ':'" in text
    assert "line 3: vault id '' is not valid: it is empty" in text
    assert "session keys as <vault>:<session>" in text


def test_mapping_file_that_is_not_utf8_names_the_line_of_the_bad_byte():
    err = problems_of(b"conversation_id,vault_id\nc1,user-a\nc\xe9,user-b\n")
    assert "line 3: byte 0xe9 is not UTF-8: save the file as UTF-8" in str(err)


def test_a_huge_mapping_file_is_refused_before_it_is_read():
    err = problems_of(b"conversation_id,vault_id\n" + b"c,user-a\n" * 100, max_bytes=500)
    assert "the limit is 500 bytes" in str(err)
    err = problems_of(mapping_csv((f"c{i}", "user-a") for i in range(11)), max_rows=10)
    assert "the file has 11 rows; the limit is 10" in str(err)


def test_an_empty_mapping_file_says_what_the_first_line_must_be():
    assert "the file is empty" in str(problems_of(b"\n\n"))
    assert "a header but no mapping rows" in str(problems_of(b"session_id,vault_id\n"))


def test_a_utf8_bom_and_windows_line_ends_are_accepted():
    key, mapping, _ = parse_mapping_csv(b"\xef\xbb\xbfConversation_ID,Vault_ID\r\nc1,user-a\r\n")
    assert (key, mapping) == ("conversation_id", {"c1": "user-a"})


def test_mapping_ids_unknown_to_the_source_vault_are_refused_naming_lines(metamorph_db):
    path = metamorph_db("migrated")
    before = file_digest(path)
    known = roots(path)[0]
    elsewhere = roots(path, vault="user-0001")[0]
    rule = SplitByMapping.from_csv(
        mapping_csv([(known, "user-a"), ("no-such-conversation", "user-b"), (elsewhere, "user-c")])
    )
    with pytest.raises(MappingFileInvalid) as err:
        build_plan(path, rule)
    text = str(err.value)
    assert (
        "line 3: conversation_id 'no-such-conversation' is not in the source vault "
        "'default-vault' (no such id in the database: not a conversations, sessions or "
        "session_states id, nor a link of any snapshot, arc, memory, message…)"
    ) in text
    assert f"line 4: conversation_id '{elsewhere}' is not in the source vault" in text
    assert "(it is in vault 'user-0001' (conversations.id), not in the source vault)" in text
    assert file_digest(path) == before


def test_previewing_writes_nothing(metamorph_db):
    path = metamorph_db("migrated")
    before = file_digest(path)
    build_plan(path, MoveVault("user-alice"))
    build_plan(path, SplitByMapping.from_csv(mapping_csv([(roots(path)[0], "user-a")])))
    assert file_digest(path) == before
    conn = sqlite3.connect(path)
    assert not conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%remap%'").fetchall()


def test_the_downloaded_id_list_parses_as_a_mapping_with_empty_rows_skipped():
    key, mapping, lines = parse_mapping_csv(
        b"conversation_id,vault_id,rows,found_in\n"
        b"c1,user-a,12,sessions.id\n"
        b"c2,,3,messages.session_id\n"
        b"'-c3,user-b,1,sessions.id\n"
    )
    assert key == "conversation_id"
    assert mapping == {"c1": "user-a", "-c3": "user-b"}
    assert lines == {"c1": 2, "-c3": 4}
    err = problems_of(b"conversation_id,vault_id,rows\nc1,,1\n")
    assert "no mapping rows: fill in the vault_id" in str(err)
