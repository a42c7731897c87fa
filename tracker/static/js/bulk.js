// The inbox's bulk selection: "select this page", the count, "select all N matching the filter".
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  if (!form) { return; }
  var all = document.querySelector("[data-bulk-all]");
  var byFilter = form.querySelector("[data-bulk-filter]");
  var count = form.querySelector("[data-bulk-count]");
  function items() { return document.querySelectorAll("[data-bulk-item]"); }
  function refresh() {
    var ticked = 0;
    items().forEach(function (box) { if (box.checked) { ticked += 1; } });
    count.textContent = byFilter && byFilter.checked ? count.getAttribute("data-total") : String(ticked);
  }
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box === all) {
      items().forEach(function (item) { item.checked = all.checked; });
    } else if (box === byFilter && byFilter.checked) {
      items().forEach(function (item) { item.checked = true; });
      if (all) { all.checked = true; }
    } else if (box.hasAttribute("data-bulk-item") && !box.checked && byFilter) {
      byFilter.checked = false;
    }
    refresh();
  });
  refresh();
})();
