/* Exact MCP Admin: small progressive enhancements. No inline script anywhere
   (CSP script-src 'self'); everything here works off data- attributes.

   - <button data-confirm="Really?"> (or a form with data-confirm) asks before
     submitting; cancelling stops the submit.
   - <form data-autosubmit> elements marked data-autosubmit-on-change submit
     their form when changed (e.g. filter selects).
*/
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var trigger = event.submitter || document.activeElement;
    var message = (trigger && trigger.getAttribute && trigger.getAttribute("data-confirm")) ||
      (form.getAttribute && form.getAttribute("data-confirm"));
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.hasAttribute && el.hasAttribute("data-autosubmit-on-change") && el.form) {
      el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit();
    }
  });
})();
