// Live chat: one WebSocket to the board. New messages arrive rendered by the server
// (the same template as the page); the form posts over the socket when it is open and
// falls back to a normal form post otherwise.
(function () {
  "use strict";
  const script = document.getElementById("chatboard-script");
  const list = document.getElementById("messages");
  const status = document.getElementById("live-status");
  const form = document.getElementById("post-form");
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  let socket = null;

  function showStatus(online) {
    status.textContent = online ? status.dataset.online : status.dataset.offline;
    status.classList.toggle("online", online);
    document.body.dataset.live = online ? "open" : "closed";
  }

  function addMessage(frame) {
    if (document.getElementById("m" + frame.id)) {
      return;
    }
    const holder = document.createElement("ol");
    holder.innerHTML = frame.html;  // rendered and escaped by the server's template
    const item = holder.firstElementChild;
    item.classList.add("fresh");
    list.appendChild(item);
    const empty = document.getElementById("empty");
    if (empty) {
      empty.remove();
    }
    item.scrollIntoView({ block: "nearest" });
  }

  function connect() {
    socket = new WebSocket(scheme + location.host + script.dataset.live);
    socket.onopen = () => showStatus(true);
    socket.onclose = () => showStatus(false);
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "message") {
        addMessage(frame);
      } else if (frame.type === "error") {
        let error = document.getElementById("error");
        if (!error) {
          error = document.createElement("p");
          error.id = "error";
          error.className = "error";
          list.after(error);
        }
        error.textContent = frame.error;
      }
    };
  }

  if (form) {
    form.addEventListener("submit", (event) => {
      const body = form.elements.body;
      if (socket && socket.readyState === WebSocket.OPEN && body.value.trim()) {
        event.preventDefault();
        socket.send(JSON.stringify({ body: body.value }));
        body.value = "";
        body.focus();
      }
    });
  }
  connect();
})();
