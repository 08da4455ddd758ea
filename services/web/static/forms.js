// GOV.UK's error summary: focus moves to it when a form comes back with errors, and its links move
// focus to their field.
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest(".error-summary a[href^='#']");
    if (!link) return;
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (field) { e.preventDefault(); field.focus(); field.scrollIntoView({ block: "center" }); }
  });
})();
