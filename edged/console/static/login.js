"use strict";
document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const password = document.getElementById("password");
  const r = await fetch("/api/login", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({password: password.value}),
    credentials: "same-origin",
  });
  password.value = "";
  if (r.ok) { window.location = "/live"; return; }
  const body = await r.json().catch(() => ({error: r.statusText}));
  error.textContent = body.error || r.statusText;
});
