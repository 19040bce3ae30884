// The language switcher: submit as soon as a language is picked.
document.addEventListener("change", (event) => {
  if (event.target.id === "language-select") {
    event.target.form.submit();
  }
});
