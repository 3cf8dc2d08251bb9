// The console's only script, and optional: pages work without it.
// - [data-poll="URL"]: fetch URL every data-poll-seconds and swap the element's content
//   (the overview panel); a 401 means the session ended: reload, which leads to sign-in.
// - form[data-confirm="question"]: ask before submitting (bulk retry).
"use strict";

function startPolling(element) {
  const url = element.getAttribute("data-poll");
  const seconds = Number(element.getAttribute("data-poll-seconds")) || 5;
  let busy = false;
  async function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) {
        window.location.reload();
        return;
      }
      if (response.ok) {
        element.innerHTML = await response.text();
        element.removeAttribute("aria-busy");
      } else {
        element.setAttribute("aria-busy", "true");
      }
    } catch (error) {
      element.setAttribute("aria-busy", "true");
    } finally {
      busy = false;
    }
  }
  window.setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", refresh);
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-poll]").forEach(startPolling);
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
});
