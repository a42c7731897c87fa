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


(function () {
  "use strict";
  // Print buttons (no inline onclick: the CSP allows only scripts from /static).
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) {
      window.print();
    }
  });
  // A text box that filters the options of the select named in data-filter-select.
  document.addEventListener("input", function (event) {
    var box = event.target;
    var id = box.getAttribute("data-filter-select");
    if (!id) { return; }
    var needle = box.value.trim();
    Array.prototype.forEach.call(document.getElementById(id).options, function (option) {
      option.hidden = needle !== "" && option.value !== "" && option.text.indexOf(needle) === -1;
    });
  });
})();


(function () {
  "use strict";
  // Report period pickers: show the inputs of the chosen kind and send only those.
  function sync(select) {
    var form = select.form;
    Array.prototype.forEach.call(form.querySelectorAll("[data-period]"), function (box) {
      var on = box.getAttribute("data-period") === select.value;
      box.hidden = !on;
      Array.prototype.forEach.call(box.querySelectorAll("input, select"), function (input) { input.disabled = !on; });
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.id === "period-kind") { sync(event.target); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("period-kind");
    if (select) { sync(select); }
  });
})();
