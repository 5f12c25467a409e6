import { params, watchRoom, lines } from "/room.js";

const p = params();
const ui = {
  room: document.getElementById("room"), status: document.getElementById("status"), error: document.getElementById("error"),
  captions: document.getElementById("captions"), partial: document.getElementById("partial"),
  jump: document.getElementById("jump"), language: document.getElementById("language"),
};
ui.room.textContent = p.room ? `Room ${p.room}` : "voicestream";
let following = true;
ui.captions.addEventListener("scroll", () => {
  following = ui.captions.scrollTop + ui.captions.clientHeight >= ui.captions.scrollHeight - 8;
  ui.jump.hidden = following;
});
ui.jump.addEventListener("click", () => { following = true; ui.jump.hidden = true; ui.captions.scrollTop = ui.captions.scrollHeight; });

const view = {
  status(text) { ui.status.textContent = text; },
  error(text) { ui.error.textContent = text; ui.error.hidden = false; },
  partial(text) { ui.partial.textContent = text; },
  redraw(finals, translations, language) {
    const paragraphs = lines(finals, translations, language).map((line) => {
      const para = document.createElement("p");
      if (line.speaker) {
        const who = document.createElement("span");
        who.className = "speaker"; who.textContent = `${line.speaker}:`;
        para.append(who);
      }
      para.append(document.createTextNode(line.text));
      return para;
    });
    ui.captions.replaceChildren(...paragraphs);
    if (following) ui.captions.scrollTop = ui.captions.scrollHeight;
  },
};

if (!p.room) view.error("No room: open this page as /watch?room=NAME");
else {
  const room = watchRoom(p, view);
  fetch("/info", { cache: "no-store" }).then((r) => r.json()).then((info) => {
    for (const code of info.room_translate_to || []) ui.language.append(new Option(code, code));
    ui.language.value = p.lang;
  }).catch(() => {});
  ui.language.addEventListener("change", () => room.setLanguage(ui.language.value));
}
