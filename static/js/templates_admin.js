/* Template pages: copy to clipboard, without inline script (CSP script-src 'self').

   - <button data-copy-text="..."> copies its attribute (variable names).
   - <button id="copy-reply" data-copy-target="ID" data-log-url=".." data-csrf="..">
     copies the text of element ID (the rendered reply), then records the
     copy (POST, JSON answer) so the customer's history shows it.
   - Editing the compose form after a preview disables "Copy text" until the
     preview is updated, so what is copied is always what was previewed.
   - <form data-preview-frame target="preview-frame"> (hidden copies of the
     previewed draft) is submitted on load: the sandboxed preview iframe then
     shows the HTML part from a URL with its own CSP, with the email's inline
     styles, instead of the srcdoc fallback that inherits the page's CSP.
*/
(function () {
  "use strict";

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function setStatus(message) {
    var status = document.getElementById("copy-status");
    if (status) { status.textContent = message; }
  }

  function logCopy(button) {
    var url = button.getAttribute("data-log-url");
    var form = document.getElementById("compose-form");
    if (!url || !form) { return Promise.resolve(); }
    var data = new FormData(form);
    data.delete("preview");
    data.delete("send");
    data.set("csrf_token", button.getAttribute("data-csrf") || data.get("csrf_token"));
    return fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": button.getAttribute("data-csrf") || "" }
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    });
  }

  document.addEventListener("click", function (event) {
    var el = event.target.closest ? event.target.closest("[data-copy-text], [data-copy-target]") : null;
    if (!el) { return; }
    event.preventDefault();
    if (el.hasAttribute("data-copy-text")) {
      var original = el.textContent;
      copyText(el.getAttribute("data-copy-text")).then(function () {
        el.textContent = "Copied";
        window.setTimeout(function () { el.textContent = original; }, 1500);
      });
      return;
    }
    var target = document.getElementById(el.getAttribute("data-copy-target"));
    if (!target || el.disabled) { return; }
    copyText(target.textContent).then(function () {
      setStatus("Copied to the clipboard.");
      el.setAttribute("data-copied", "1");
      return logCopy(el).then(function () {
        setStatus("Copied to the clipboard and noted in the customer's history.");
      }, function () {
        setStatus("Copied to the clipboard (could not note it in the history).");
      });
    }, function () {
      setStatus("Your browser refused the clipboard; select the text and copy it by hand.");
    });
  });

  // Only after the window's load event: the iframe's own first (srcdoc) load
  // is then over, so it cannot cancel or overtake the form's navigation.
  function loadPreviewFrames() {
    var forms = document.querySelectorAll("form[data-preview-frame]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].submit();
    }
  }
  if (document.readyState === "complete") {
    loadPreviewFrames();
  } else {
    window.addEventListener("load", loadPreviewFrames);
  }

  var compose = document.getElementById("compose-form");
  if (compose) {
    compose.addEventListener("input", function () {
      var button = document.getElementById("copy-reply");
      if (button && !button.disabled) {
        button.disabled = true;
        setStatus("You changed the text: update the preview before copying.");
      }
    });
  }
})();
