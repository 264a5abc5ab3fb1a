// A minimal chat page: Enter or the Send button "sends" the message, which
// here means appending it to #sent (what a real page would POST).
const form = document.getElementById("chat");
const prompt = document.getElementById("prompt");
form.addEventListener("submit", (e) => {
  e.preventDefault();
  const li = document.createElement("li");
  li.textContent = prompt.value;
  document.getElementById("sent").append(li);
  prompt.value = "";
});
prompt.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    form.requestSubmit();
  }
});
