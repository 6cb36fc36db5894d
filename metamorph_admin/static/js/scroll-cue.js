// A table wider than its box says so above it, and which way to scroll: at 1280 px the
// Vaults matrix hid its right-hand columns with nothing to tell they were there.
(function () {
  function cue(box) {
    var note = box.previousElementSibling;
    if (!note || !note.classList.contains("scroll-cue")) {
      note = document.createElement("p");
      note.className = "scroll-cue";
      note.setAttribute("aria-hidden", "true");
      box.parentNode.insertBefore(note, box);
    }
    var hidden = box.scrollWidth - box.clientWidth;
    var atEnd = box.scrollLeft >= hidden - 2;
    box.classList.toggle("overflows", hidden > 2);
    note.hidden = hidden <= 2;
    note.textContent = atEnd
      ? "← scroll back for the first columns"
      : "More columns to the right: scroll sideways →";
  }
  function all() {
    document.querySelectorAll(".scroll").forEach(function (box) {
      cue(box);
      if (!box.dataset.cue) {
        box.dataset.cue = "1";
        box.addEventListener("scroll", function () { cue(box); }, { passive: true });
      }
    });
  }
  document.addEventListener("DOMContentLoaded", all);
  window.addEventListener("resize", all);
  document.addEventListener("htmx:afterSettle", all);
})();
