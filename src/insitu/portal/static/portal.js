// The portal's few behaviours: dialogs, copy buttons and focus after htmx swaps.
// No inline scripts anywhere: the Content-Security-Policy allows only files from insitu itself.
(function () {
  "use strict";

  function openDialog(id) {
    var dialog = document.getElementById(id);
    if (dialog && !dialog.open) dialog.showModal();
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open-dialog]");
    if (opener) { openDialog(opener.getAttribute("data-open-dialog")); return; }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) { closer.closest("dialog").close(); return; }
    var copier = event.target.closest("[data-copy]");
    if (copier) {
      var source = document.getElementById(copier.getAttribute("data-copy"));
      if (!source) return;
      var text = source.value !== undefined && source.tagName !== "PRE" ? source.value : source.textContent;
      var done = function () {
        var label = copier.textContent;
        copier.textContent = "Copied";
        setTimeout(function () { copier.textContent = label; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
      } else {
        selectText(source);
      }
    }
  });

  // Without a secure context there is no clipboard API: select the text for Ctrl+C instead.
  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("dialog[data-open-on-load]").forEach(function (dialog) {
      dialog.showModal();
    });
  });
})();

// Data Imports: after htmx swaps in a verify result, a new connection or a problem, move the
// keyboard and screen reader focus to it (once); a page re-rendered with an error does the same.
(function () {
  "use strict";

  function focusMarked() {
    var marked = document.querySelector("[data-focus-on-swap]");
    if (!marked) return;
    marked.removeAttribute("data-focus-on-swap");
    marked.focus();
  }

  document.addEventListener("htmx:afterSettle", focusMarked);
  document.addEventListener("DOMContentLoaded", focusMarked);
})();
