// Small page behaviours shared by every page. htmx does the rest.
(function () {
  "use strict";

  // "Copy" buttons: <button data-copy="#element-id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.value !== undefined ? source.value : source.textContent;
    navigator.clipboard.writeText(text.trim()).then(function () {
      var original = button.textContent;
      button.textContent = button.getAttribute("data-copied") || "Copied";
      setTimeout(function () { button.textContent = original; }, 1500);
    });
  });

  // Forms that ask before doing something that cannot be undone: <form data-confirm="...">.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // htmx: show a server error in place instead of failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    var box = document.getElementById("messages");
    if (!box) return;
    var div = document.createElement("div");
    div.className = "msg msg-error";
    div.setAttribute("role", "alert");
    var status = event.detail.xhr ? event.detail.xhr.status : "";
    div.textContent = (document.documentElement.lang.indexOf("zh") === 0 ? "请求失败 " : "Request failed ") + status;
    box.appendChild(div);
  });
})();
