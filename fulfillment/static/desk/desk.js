// The desk's own behaviour, small on purpose (htmx does the rest).
// Where the cursor goes when a page comes back: the first field with an error (a refused
// submit); else what the server marked autofocus (the line just added, the alternatives);
// else the field the agent pressed Enter in, when the form came back to the same page (New
// order recomputes on Enter), so typing goes on where it was.
const REMEMBERED_FOCUS = "desk:focus";
document.addEventListener("DOMContentLoaded", () => {
  const remembered = JSON.parse(sessionStorage.getItem(REMEMBERED_FOCUS) || "null");
  sessionStorage.removeItem(REMEMBERED_FOCUS);
  const invalid = document.querySelector("main [aria-invalid=true]");
  if (invalid) {
    invalid.focus();
  } else if (!document.querySelector("[autofocus]") && remembered
             && remembered.path === window.location.pathname) {
    const field = document.getElementById(remembered.id);
    if (field) field.focus();
  }
});
document.addEventListener("submit", (event) => {
  const field = document.activeElement;
  // Buttons are left out: a clicked button's page comes back with its own focus.
  if (field && field.id && field.tagName !== "BUTTON" && event.target.contains(field)) {
    sessionStorage.setItem(
      REMEMBERED_FOCUS, JSON.stringify({path: window.location.pathname, id: field.id}));
  }
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
