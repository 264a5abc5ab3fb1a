// Ward's content script: watches what the user sends, copies and pastes,
// asks the service worker (which runs the engine) about it, and shows a
// warning. Nothing here decides what is a secret or an injection: the
// engine's verdict does.
(() => {
  "use strict";

  // Verdicts that interrupt the user; "log" findings are let through.
  const WARN = new Set(["redact", "block"]);

  function scan(kind, text) {
    return chrome.runtime.sendMessage({ type: "ward.scan", kind, text }).then((answer) => {
      if (!answer?.ok) throw new Error(answer?.error ?? "no answer from Ward");
      return answer.result;
    });
  }

  // ---- editable fields ----------------------------------------------------

  const TEXT_INPUTS = new Set(["text", "search", "email", "url", ""]);

  function isEditable(el) {
    if (!(el instanceof HTMLElement)) return false;
    if (el instanceof HTMLTextAreaElement) return !el.readOnly && !el.disabled;
    if (el instanceof HTMLInputElement) return TEXT_INPUTS.has(el.type) && !el.readOnly && !el.disabled;
    return el.isContentEditable;
  }

  const editableOf = (el) => (isEditable(el) ? el : el instanceof Element ? el.closest("[contenteditable]") : null);
  const textOf = (el) => ("value" in el ? el.value : el.innerText);

  function setText(el, text) {
    if ("value" in el) {
      // Through the prototype's setter, so frameworks that track the
      // field's value (React and friends) see the change.
      const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
      Object.getOwnPropertyDescriptor(proto, "value").set.call(el, text);
    } else {
      el.textContent = text;
    }
    el.dispatchEvent(new InputEvent("input", { bubbles: true, inputType: "insertReplacementText" }));
  }

  // ---- prompts: checked before they are submitted ------------------------

  // The verdict for the text each field held when last scanned, kept up to
  // date while the user types so that a submission can usually be decided
  // without waiting.
  const verdicts = new WeakMap(); // field -> { text, result }
  // Text the user chose to send despite a warning (one submission).
  let bypass = null;
  let lastField = null;

  document.addEventListener(
    "input",
    (e) => {
      const field = editableOf(e.target);
      if (!field) return;
      lastField = field;
      const text = textOf(field);
      scan("prompt", text).then(
        (result) => verdicts.set(field, { text, result }),
        () => {},
      );
    },
    true,
  );

  // How to repeat a submission once it has been checked.
  function resubmitter(kind, field, form, button) {
    return () => {
      if (kind === "click" && button?.isConnected) button.click();
      else if (form?.isConnected) form.requestSubmit(button && form.contains(button) ? button : undefined);
      else if (field.isConnected) field.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", code: "Enter", bubbles: true, cancelable: true }));
    };
  }

  // Decides a submission of `fields`. Returns true when it may go ahead now;
  // otherwise it has been stopped and is repeated or warned about later.
  function gate(event, fields, resubmit) {
    const text = fields.map(textOf).join("\n");
    if (!text.trim()) return true;
    if (bypass !== null && bypass === text) {
      bypass = null;
      return true;
    }
    const known = fields.length === 1 ? verdicts.get(fields[0]) : undefined;
    if (known && known.text === text && !WARN.has(known.result.verdict)) return true;
    event.preventDefault();
    event.stopImmediatePropagation();
    const decide = (result) => {
      if (!WARN.has(result.verdict)) {
        bypass = text;
        resubmit();
        return;
      }
      showPromptWarning(result, fields, text, resubmit);
    };
    if (known && known.text === text) decide(known.result);
    else scan("prompt", text).then(decide, (err) => showError(err, text, resubmit));
    return false;
  }

  const formFields = (form) => [...form.elements].filter((el) => isEditable(el) && textOf(el).trim());

  document.addEventListener(
    "keydown",
    (e) => {
      if (e.key !== "Enter" || e.shiftKey || e.isComposing) return;
      const field = editableOf(e.target);
      if (!field) return;
      const form = "form" in field ? field.form : field.closest("form");
      gate(e, [field], resubmitter("enter", field, form, null));
    },
    true,
  );

  document.addEventListener(
    "submit",
    (e) => {
      const form = e.target;
      if (!(form instanceof HTMLFormElement)) return;
      const fields = formFields(form);
      if (fields.length === 0) return;
      gate(e, fields, resubmitter("submit", fields[0], form, e.submitter));
    },
    true,
  );

  // Chat apps without a <form>: a "send" button next to the field.
  const SEND = /\bsend\b|\bsubmit\b/i;
  document.addEventListener(
    "click",
    (e) => {
      const button = e.target instanceof Element ? e.target.closest("button, [role=button], input[type=submit]") : null;
      if (!button || button.form || !lastField?.isConnected) return;
      const label = [button.getAttribute("aria-label"), button.title, button.dataset.testid, button.textContent].join(" ");
      if (!SEND.test(label)) return;
      gate(e, [lastField], resubmitter("click", lastField, null, button));
    },
    true,
  );

  // ---- page content: checked when copied or pasted ----------------------

  document.addEventListener(
    "copy",
    () => {
      const text = String(document.getSelection() ?? "");
      if (!text.trim()) return;
      scan("document", text).then((result) => {
        if (WARN.has(result.verdict)) showWarning("copy", result, "The text you copied contains instructions aimed at an AI assistant. Do not paste it into one unchecked.", []);
      }, () => {});
    },
    true,
  );

  document.addEventListener(
    "paste",
    (e) => {
      const field = editableOf(e.target);
      const text = e.clipboardData?.getData("text/plain") ?? "";
      if (!field || !text.trim()) return;
      const before = textOf(field); // the paste has not happened yet
      scan("document", text).then((result) => {
        if (!WARN.has(result.verdict)) return;
        showWarning("paste", result, "The text you pasted contains instructions aimed at an AI assistant.", [
          ["Remove pasted text", () => setText(field, before)],
          ["Keep it", () => {}],
        ]);
      }, () => {});
    },
    true,
  );

  // ---- the warning ---------------------------------------------------------

  function showPromptWarning(result, fields, text, resubmit) {
    const actions = [];
    if (result.redacted !== undefined && fields.length === 1) {
      actions.push(["Send redacted", () => {
        setText(fields[0], result.redacted);
        bypass = result.redacted;
        resubmit();
      }]);
    }
    actions.push(["Send anyway", () => {
      bypass = text;
      resubmit();
    }]);
    actions.push(["Edit", () => fields[0].focus()]);
    const what = new Set(result.findings.map((f) => f.detector));
    const noun = what.has("secrets") ? (what.has("pii") ? "a secret and personal data" : "a secret") : what.has("pii") ? "personal data" : "something your policy flags";
    showWarning("prompt", result, `This message contains ${noun}. It has not been sent.`, actions);
  }

  function showError(err, text, resubmit) {
    const result = { verdict: "block", findings: [{ detector: "format", rule: "ward.unavailable", message: String(err?.message ?? err) }] };
    showWarning("prompt", result, "Ward could not check this message.", [
      ["Send anyway", () => {
        bypass = text;
        resubmit();
      }],
      ["Cancel", () => {}],
    ]);
  }

  const HOST_ID = "ward-warning-host";

  function showWarning(kind, result, headline, actions) {
    document.getElementById(HOST_ID)?.remove();
    const host = document.createElement("div");
    host.id = HOST_ID;
    host.dataset.wardKind = kind;
    host.dataset.wardVerdict = result.verdict;
    host.dataset.wardRules = [...new Set(result.findings.map((f) => f.rule))].join(" ");
    // A shadow root keeps the page's styles off the warning and ours off the page.
    const root = host.attachShadow({ mode: "open" });
    const box = document.createElement("div");
    box.setAttribute("role", "alertdialog");
    box.setAttribute("aria-label", "Ward warning");
    box.className = "box";
    const style = document.createElement("style");
    style.textContent = `
      .box { position: fixed; z-index: 2147483647; right: 16px; bottom: 16px; max-width: 420px;
             font: 14px/1.4 system-ui, sans-serif; color: #1b1b1b; background: #fff6e5;
             border: 2px solid #c25e00; border-radius: 8px; padding: 12px 14px; box-shadow: 0 4px 16px #0003; }
      h2 { font-size: 15px; margin: 0 0 6px; }
      ul { margin: 6px 0; padding-left: 18px; }
      code { font-size: 12px; }
      button { margin: 6px 6px 0 0; font: inherit; padding: 3px 10px; cursor: pointer; }`;
    const title = document.createElement("h2");
    title.textContent = `Ward: ${headline}`;
    const list = document.createElement("ul");
    for (const f of result.findings) {
      const item = document.createElement("li");
      const rule = document.createElement("code");
      rule.textContent = f.rule;
      item.append(rule, ` ${f.message}`);
      list.append(item);
    }
    box.append(style, title, list);
    for (const [label, run] of actions.length ? actions : [["Dismiss", () => {}]]) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.addEventListener("click", () => {
        host.remove();
        run();
      });
      box.append(b);
    }
    root.append(box);
    document.documentElement.append(host);
  }
})();
