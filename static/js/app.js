// Loomworks: small behaviours that make the bench tablet forgiving. No inline scripts (CSP).
(function () {
  "use strict";

  // A double tap must not submit a form twice: disable its submit buttons once it is sent.
  // The server also refuses duplicates (idempotency keys); this only spares the round trip.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || form.hasAttribute("data-allow-resubmit")) return;
    if (form.dataset.submitted === "1") {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "1";
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (b) {
        b.disabled = true;
      });
    }, 0);
  });

  // A list swapped in beside a preview (the units a delivery line's material converts from)
  // keeps what the person chose meanwhile, when the new list still offers it: the answer was
  // made from the form as it was when the material changed.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var current = event.detail.target;
    var fragment = event.detail.fragment;
    var incoming = fragment && fragment.querySelector ? fragment.querySelector("select") : null;
    if (!current || current.tagName !== "SELECT" || !incoming || !current.value) return;
    var offered = Array.prototype.some.call(incoming.options, function (option) {
      return option.value === current.value;
    });
    if (offered) incoming.value = current.value;
  });

  // Returning with the back button re-enables forms that were sent.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      delete form.dataset.submitted;
      form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (b) {
        b.disabled = false;
      });
    });
  });

  // Confirmation prompts without inline JavaScript: <button data-confirm="Reverse this posting?">.
  // A form with something missing (the reason for a reversal) says so first, without asking.
  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-confirm]");
    if (el && el.form && !el.form.noValidate && !el.form.checkValidity()) {
      event.preventDefault();
      event.stopImmediatePropagation();
      el.form.reportValidity();
      return;
    }
    if (el && !window.confirm(el.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // A stage form sent over a connection that dropped: say that nothing or everything was
  // recorded, never half, and let the same form (the same key) be sent again.
  document.addEventListener("htmx:sendError", function (event) {
    var form = event.detail.elt && event.detail.elt.closest("form[data-offline-safe]");
    if (!form) return;
    var note = form.querySelector(".offline-note");
    var buttons = form.querySelectorAll("button[type=submit]");
    delete form.dataset.submitted;
    buttons.forEach(function (b) { b.disabled = false; });
    if (!note) return;
    // The note sits just above the button: show both where the finger is, not at the top of
    // a long form.
    note.hidden = false;
    note.scrollIntoView({ block: "nearest" });
    if (buttons.length) buttons[buttons.length - 1].scrollIntoView({ block: "nearest" });
  });

  // The same form answered with its errors, swapped in place: the button that was tapped sits
  // far below them on a long stage form, so bring the first error into view.
  document.addEventListener("htmx:afterSettle", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-offline-safe]")) return;
    var error = form.querySelector(".form-errors, .has-error");
    if (error) error.scrollIntoView({ block: "center" });
  });

  // Label sheets: the Print button prints; a label whose words do not fit is marked on screen,
  // with a note, since paper would cut them off.
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) window.print();
  });
  window.addEventListener("load", function () {
    var cut = 0;
    document.querySelectorAll(".sheet .label-text").forEach(function (text) {
      var over = text.scrollHeight > text.clientHeight + 1 || text.scrollWidth > text.clientWidth + 1;
      text.closest(".label").classList.toggle("overflowing", over);
      if (over) cut += 1;
    });
    var note = document.querySelector("[data-label-overflow]");
    if (note) note.hidden = cut === 0;
  });
})();
