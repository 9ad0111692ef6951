#!/usr/bin/env python3
"""click.py CHROMIUM URL SCRIPT — runs SCRIPT (JavaScript, an async
function body) in the page at URL, in headless chromium driven over the
DevTools protocol on a pipe (--remote-debugging-pipe: no port, no
websocket), and prints what it returns as JSON. Exit 1 when it throws or
runs past 60 s.

The dashboard test uses it to act as a user would: type the admin token,
press a member's button, read the answer the page shows."""
import json
import os
import subprocess
import sys
import time


class Browser:
    def __init__(self, chrome):
        # Chromium reads commands from fd 3 and writes answers to fd 4, each
        # message a JSON text ended by a NUL byte.
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds():
            # Through fresh numbers first: a pipe may already be 3 or 4, and
            # dup2 onto itself would keep its close-on-exec flag.
            r, w = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "about:blank"],
            # close_fds would close 3 and 4 after preexec_fn put the pipes there.
            preexec_fn=fds, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=None if os.environ.get("CLICK_DEBUG") else subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0

    def call(self, method, params=None, session=None, deadline=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self.buf:
                if deadline and time.time() > deadline:
                    raise TimeoutError(method)
                chunk = os.read(self.from_chrome, 65536)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def close(self):
        try:
            self.call("Browser.close", deadline=time.time() + 5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main():
    chrome, url, script = sys.argv[1], sys.argv[2], sys.argv[3]
    deadline = time.time() + 60
    b = Browser(chrome)
    try:
        target = b.call("Target.createTarget", {"url": url}, deadline=deadline)["targetId"]
        session = b.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                         deadline=deadline)["sessionId"]
        # Wait for the page itself (not the blank one before it) to load.
        while True:
            r = b.call("Runtime.evaluate", {"expression": "location.href + ' ' + document.readyState",
                                            "returnByValue": True}, session=session, deadline=deadline)
            if r["result"].get("value") == url + " complete":
                break
            if time.time() > deadline:
                raise TimeoutError("loading " + url)
            time.sleep(0.1)
        expr = "(async () => {\n" + script + "\n})()"
        r = b.call("Runtime.evaluate", {"expression": expr, "awaitPromise": True, "returnByValue": True},
                   session=session, deadline=deadline)
        if "exceptionDetails" in r:
            print(json.dumps(r["exceptionDetails"]), file=sys.stderr)
            return 1
        print(json.dumps(r["result"].get("value")))
        return 0
    finally:
        b.close()


if __name__ == "__main__":
    sys.exit(main())
