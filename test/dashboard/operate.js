// operate.js — run in the dashboard by click.py, as a user would: press
// "make leader" on a follower without a token (the page must show the
// leader's 401), type the token (placeholder TOKEN, replaced by the test),
// keep it in the tab, press again (200), and see that member become leader.
const until = async (f, ms) => {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out: " + f + "; the page says: " + document.getElementById("answer").textContent);
    await new Promise((r) => setTimeout(r, 100));
  }
};
const answer = () => document.getElementById("answer").textContent;
await until(() => document.querySelector('tr[data-role="leader"]'), 15000);
const target = document.querySelector('tr[data-role="follower"]').dataset.id;
const button = () => [...document.querySelectorAll(`tr[data-id="${target}"] button`)].find((b) => b.textContent === "make leader");
button().click();
const refused = await until(() => /: 401/.test(answer()) && answer(), 15000);
const refusedClass = document.getElementById("answer").className;
document.getElementById("token").value = "TOKEN";
document.getElementById("save-token").click();
button().click();
const done = await until(() => /: 200/.test(answer()) && answer(), 15000);
await until(() => document.querySelector(`tr[data-id="${target}"][data-role="leader"]`), 15000);
return { target, refused, refusedClass, done, stored: sessionStorage.getItem("coraft_token"), html: document.documentElement.outerHTML.includes("TOKEN") };
