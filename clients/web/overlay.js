// A captions overlay for OBS's browser source: /overlay?room=NAME&lines=2&size=48&color=white
// &background=00000099&font=sans-serif&position=bottom&lang=es (transparent everywhere else).
import { params, watchRoom, lines } from "/room.js";

const p = params();
const q = p.q;
const box = document.getElementById("overlay");
const shown = Math.max(1, Math.min(6, parseInt(q.get("lines") || "2", 10) || 2));
const colour = (v, d) => (v && /^[0-9a-fA-F]{3,8}$/.test(v) ? `#${v}` : v && /^[a-z]+$/.test(v) ? v : d);
box.style.fontFamily = q.get("font") || "system-ui, sans-serif";
box.style.fontSize = `${Math.max(8, Math.min(200, parseInt(q.get("size") || "42", 10) || 42))}px`;
box.style.color = colour(q.get("color"), "white");
box.style[q.get("position") === "top" ? "top" : "bottom"] = "4vh";
const background = colour(q.get("background"), "#000000a0");

let partial = "";
let last = [];
function draw() {
  const texts = last.map((l) => l.text);
  if (partial && !p.lang) texts.push(partial);
  box.replaceChildren(...texts.slice(-shown).map((text) => {
    const line = document.createElement("div");
    const span = document.createElement("p");
    span.textContent = text;
    span.style.background = background;
    line.append(span);
    return line;
  }));
}
const view = {
  status() {}, error() {},
  partial(text) { partial = text; draw(); },
  redraw(finals, translations, language) { last = lines(finals, translations, language).slice(-shown); draw(); },
};
if (p.room) watchRoom(p, view);
