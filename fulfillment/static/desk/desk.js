// The desk's own behaviour, small on purpose (htmx does the rest).
// After a refused submit, the cursor goes to the first field with an error.
document.addEventListener("DOMContentLoaded", () => {
  const invalid = document.querySelector("main [aria-invalid=true]");
  if (invalid) invalid.focus();
});
// A form that posts disables its submit buttons once sent, so a double click sends it once;
// the server still guards every write (an idempotency key on order forms).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.method.toLowerCase() !== "post" || event.defaultPrevented) return;
  // Let the browser read the clicked button's name/value first, then disable.
  setTimeout(() => {
    form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]")
      .forEach((button) => { button.disabled = true; });
  }, 0);
});
// Coming back with the back button shows the page from the cache: make it usable again.
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  document.querySelectorAll("form button[disabled][type=submit], form input[type=submit][disabled]")
    .forEach((button) => { button.disabled = false; });
});
