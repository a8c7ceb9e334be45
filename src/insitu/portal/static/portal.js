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

// The Assets grid: say in words when a file did not load from the bucket, and keep the
// selection's count and the Remove button in step with the checkboxes.
(function () {
  "use strict";

  function markFailed(media) {
    var tile = media.closest("[data-asset-tile]");
    if (!tile || tile.classList.contains("failed")) return;
    tile.classList.add("failed");
    media.hidden = true;
    var message = tile.querySelector(".tile-failed");
    if (message) message.hidden = false;
    var failed = document.querySelectorAll("[data-asset-tile].failed").length;
    document.querySelectorAll("[data-load-failures]").forEach(function (notice) {
      notice.hidden = false;
      var count = notice.querySelector("[data-failed-count]");
      if (count) count.textContent = failed === 1 ? "1 file" : failed + " files";
    });
  }

  // Media errors do not bubble: listen while they travel down (capture) instead.
  document.addEventListener("error", function (event) {
    var target = event.target;
    if (target && target.matches && target.matches("[data-asset-media]")) markFailed(target);
  }, true);

  function selectionChanged(form) {
    var boxes = form.querySelectorAll("input[name='asset_ids']");
    var selected = form.querySelectorAll("input[name='asset_ids']:checked").length;
    form.querySelectorAll("[data-selected-count]").forEach(function (node) {
      node.textContent = selected ? selected + " selected" : "None selected";
    });
    form.querySelectorAll("[data-selected-phrase]").forEach(function (node) {
      node.textContent = selected === 1 ? "The selected asset" : "The " + selected + " selected assets";
    });
    form.querySelectorAll("[data-needs-selection]").forEach(function (button) {
      button.disabled = selected === 0;
    });
    var all = form.querySelector("[data-select-all]");
    if (all) {
      all.checked = boxes.length > 0 && selected === boxes.length;
      all.indeterminate = selected > 0 && selected < boxes.length;
    }
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-selection]");
    if (!form) return;
    if (event.target.matches("[data-select-all]")) {
      form.querySelectorAll("input[name='asset_ids']").forEach(function (box) {
        box.checked = event.target.checked;
      });
    }
    selectionChanged(form);
  });

  document.addEventListener("DOMContentLoaded", function () {
    // Files that failed before this script ran.
    document.querySelectorAll("img[data-asset-media]").forEach(function (img) {
      if (img.complete && img.naturalWidth === 0) markFailed(img);
    });
    document.querySelectorAll("video[data-asset-media]").forEach(function (video) {
      if (video.error) markFailed(video);
    });
    // The browser may restore checked boxes on Back.
    document.querySelectorAll("form[data-selection]").forEach(selectionChanged);
  });
})();
