// Small behaviours shared by every page. No inline scripts: the CSP allows only files from /static.
(function () {
  "use strict";
  // Ask before a form marked data-confirm is sent (deactivate, delete, reset password…).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  }, true);
})();

