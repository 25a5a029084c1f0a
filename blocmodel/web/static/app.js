// The negotiation table's page behaviour; htmx does the requests and swaps.
// Here: problems placed next to their fields, members' welfare changes beside their names,
// the member filter and sort, the mechanism-dependent floor fields, and the copy-link button.
(function () {
  "use strict";

  function readJSON(root, selector) {
    var el = root.querySelector(selector);
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  function placeProblems() {
    var results = document.getElementById("results");
    if (!results) return;
    var problems = readJSON(results, ".problems-data") || [];
    document.querySelectorAll(".field-error").forEach(function (el) { el.textContent = ""; });
    document.querySelectorAll("#design .invalid").forEach(function (el) {
      el.classList.remove("invalid"); el.removeAttribute("aria-invalid");
    });
    problems.forEach(function (p) {
      if (!p.field) return;
      var slot = document.querySelector('.field-error[data-for="' + p.field + '"]');
      if (slot) slot.textContent = (slot.textContent ? slot.textContent + " · " : "") + p.message;
      var input = document.querySelector('#design [name="' + p.field + '"]');
      if (input) { input.classList.add("invalid"); input.setAttribute("aria-invalid", "true"); }
    });
  }

  function placeDeltas() {
    var results = document.getElementById("results");
    var deltas = (results && readJSON(results, ".deltas-data")) || {};
    document.querySelectorAll(".member .delta").forEach(function (el) {
      var d = deltas[el.dataset.region];
      el.textContent = d ? d.text : "";
      el.className = "delta" + (d ? (d.value > 0 ? " pos" : (d.value < 0 ? " neg" : "")) : "");
      el.closest(".member").dataset.change = d ? d.value : "";
    });
    var count = document.getElementById("member-count");
    if (count) {
      var boxes = document.querySelectorAll('#design input[name="members"]:checked'), regions = 0;
      boxes.forEach(function (b) { regions += +(b.dataset.regions || 1); });
      count.textContent = boxes.length + " chosen" + (regions !== boxes.length ? " · " + regions + " regions" : "");
    }
    sortMembers();
  }

  function filterMembers() {
    var box = document.getElementById("member-filter");
    if (!box) return;
    var q = box.value.trim().toLowerCase();
    document.querySelectorAll("#member-list .member").forEach(function (el) {
      el.hidden = q && el.dataset.search.indexOf(q) < 0;
    });
  }

  function sortMembers() {
    var select = document.getElementById("member-sort");
    var list = document.getElementById("member-list");
    if (!select || !list) return;
    var byChange = select.value === "change";
    var sections = [], current = null;
    Array.prototype.forEach.call(list.children, function (el) {
      if (el.classList.contains("list-head")) { current = { head: el, items: [] }; sections.push(current); }
      else if (current) current.items.push(el);
    });
    sections.forEach(function (s) {
      s.items.sort(function (a, b) {
        if (byChange) {
          var x = a.dataset.change === "" || a.dataset.change === undefined ? -Infinity : +a.dataset.change;
          var y = b.dataset.change === "" || b.dataset.change === undefined ? -Infinity : +b.dataset.change;
          if (x !== y) return y - x;
        }
        return a.dataset.name.localeCompare(b.dataset.name);
      });
      var after = s.head;
      s.items.forEach(function (el) { after.after(el); after = el; });
    });
  }

  function showMechanism(row) {
    var select = row.querySelector("select.mechanism");
    if (select) row.dataset.mechanism = select.value;
  }

  function refresh() {
    placeProblems();
    placeDeltas();
    filterMembers();
    document.querySelectorAll(".row.floor").forEach(showMechanism);
  }

  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:afterSettle", refresh);
  document.addEventListener("input", function (e) {
    if (e.target.id === "member-filter") filterMembers();
  });
  document.addEventListener("change", function (e) {
    if (e.target.id === "member-sort") sortMembers();
    if (e.target.classList.contains("mechanism")) showMechanism(e.target.closest(".row"));
    if (e.target.name === "members") placeDeltas();
    if (e.target.classList.contains("floor-product")) {
      // a new product: show its 2024 price, and quote it in its usual unit while no level is typed yet
      var option = e.target.selectedOptions[0], row = e.target.closest(".row");
      row.querySelector(".reference").textContent = "2024 price " + option.dataset.reference;
      var level = row.querySelector('input[name$="-price"]'), unit = row.querySelector('select[name$="-unit"]');
      if (level && unit && !level.value.trim()) unit.value = option.dataset.unit;
    }
  });
  document.addEventListener("click", function (e) {
    var link = e.target.closest("a.to-field");
    if (link) {                       // a problem in the list: go to its field
      e.preventDefault();
      var input = document.querySelector('#design [name="' + link.dataset.field + '"]');
      if (input) { input.scrollIntoView({ block: "center" }); input.focus(); }
      return;
    }
    var button = e.target.closest("#copy-link");
    if (!button) return;
    var url = location.origin + "/" + (button.dataset.query ? "?" + button.dataset.query : "");
    var done = function () { button.textContent = "Link copied"; setTimeout(function () { button.textContent = "Copy link"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(url).then(done, function () { window.prompt("Copy this link:", url); });
    else window.prompt("Copy this link:", url);
  });
})();
