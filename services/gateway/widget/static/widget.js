/* NovaHouse chat widget: one script, no framework, no build step. Embed it with
   <script src="https://<gateway>/widget/widget.js" defer></script> (docs/widget.md). */
(function () {
  "use strict";
  var script = document.currentScript;
  var BASE = new URL(script ? script.src : "/widget/widget.js", location.href).origin;
  var STORE = "novahouse.chat";
  var langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "pl"];
  var LANG = String(langs[0]).toLowerCase().indexOf("en") === 0 ? "en" : "pl";
  var T = {
    pl: {
      open: "Czat z NovaHouse", close: "Zamknij czat", title: "NovaHouse — czat",
      intro: "Dzień dobry! Zapytaj o wycenę, terminy albo obszar działania.",
      label: "Twoja wiadomość", send: "Wyślij", you: "Ty", bot: "NovaHouse",
      contact: "Zostaw e-mail do wyceny", email: "Twój e-mail", sendContact: "Wyślij dane",
      mine: "Mój e-mail: ", sending: "Wysyłanie…",
      tooMany: "Za dużo wiadomości naraz. Spróbuj ponownie za {s} s.",
      unavailable: "Czat jest chwilowo niedostępny. Spróbuj ponownie za {s} s.",
      offline: "Brak połączenia z czatem. Sprawdź internet i spróbuj ponownie.",
      failed: "Nie udało się wysłać wiadomości ({code}). Spróbuj ponownie.",
      confirm: "Dziękujemy! Na adres {email} wysłaliśmy e-mail z linkiem potwierdzającym zgodę marketingową. Zgoda zacznie obowiązywać po kliknięciu w link.",
      resumed: "Wznowiono rozmowę."
    },
    en: {
      open: "Chat with NovaHouse", close: "Close chat", title: "NovaHouse — chat",
      intro: "Hello! Ask about a quote, timing or where we work.",
      label: "Your message", send: "Send", you: "You", bot: "NovaHouse",
      contact: "Leave your email for a quote", email: "Your email", sendContact: "Send details",
      mine: "My email: ", sending: "Sending…",
      tooMany: "Too many messages at once. Please try again in {s} s.",
      unavailable: "The chat is unavailable right now. Please try again in {s} s.",
      offline: "Cannot reach the chat. Check your connection and try again.",
      failed: "The message could not be sent ({code}). Please try again.",
      confirm: "Thank you! We have sent an email to {email} with a link to confirm your marketing consent. It takes effect once you click the link.",
      resumed: "Conversation resumed."
    }
  }[LANG];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function loadSession() {
    try { return JSON.parse(sessionStorage.getItem(STORE) || "null") || {}; } catch (e) { return {}; }
  }
  function saveSession(value) {
    try { sessionStorage.setItem(STORE, JSON.stringify(value)); } catch (e) { /* private mode: no resume */ }
  }
  var session = loadSession();
  if (!session.token) { session = {}; } // an id alone opens nothing: a new conversation starts
  var texts = null;

  if (!document.querySelector('link[href$="/widget/widget.css"]')) {
    document.head.appendChild(el("link", { rel: "stylesheet", href: BASE + "/widget/widget.css" }));
  }

  var root = el("div", { id: "nh-chat", class: "nh-chat", lang: LANG });
  var launcher = el("button", { type: "button", class: "nh-launcher", "aria-expanded": "false", "aria-controls": "nh-chat-panel" }, T.open);
  var panel = el("section", { id: "nh-chat-panel", class: "nh-panel", "aria-label": T.title, hidden: "" });
  var head = el("div", { class: "nh-head" });
  head.appendChild(el("h2", { class: "nh-title" }, T.title));
  var closer = el("button", { type: "button", class: "nh-close", "aria-label": T.close }, "×");
  head.appendChild(closer);
  var log = el("ol", { class: "nh-log", role: "log", "aria-live": "polite", tabindex: "0", "aria-label": T.title });
  var status = el("p", { class: "nh-status", role: "alert" });
  var notice = el("p", { class: "nh-notice", role: "status" });
  var form = el("form", { class: "nh-form", novalidate: "" });
  var inputId = "nh-chat-input";
  form.appendChild(el("label", { for: inputId, class: "nh-sr" }, T.label));
  var input = el("input", { id: inputId, name: "message", type: "text", maxlength: "4000", autocomplete: "off", placeholder: T.label });
  var sendButton = el("button", { type: "submit", class: "nh-send" }, T.send);
  form.appendChild(input);
  form.appendChild(sendButton);

  var details = el("details", { class: "nh-contact" });
  details.appendChild(el("summary", {}, T.contact));
  var contact = el("form", { class: "nh-contact-form", novalidate: "" });
  contact.appendChild(el("label", { for: "nh-chat-email" }, T.email));
  var email = el("input", { id: "nh-chat-email", name: "email", type: "email", autocomplete: "email", maxlength: "254" });
  contact.appendChild(email);
  var boxes = {};
  ["processing", "marketing"].forEach(function (purpose) {
    var row = el("div", { class: "nh-consent" });
    var box = el("input", { id: "nh-consent-" + purpose, type: "checkbox", name: purpose });
    var text = el("label", { for: box.id, "data-purpose": purpose });
    row.appendChild(box);
    row.appendChild(text);
    contact.appendChild(row);
    boxes[purpose] = { box: box, label: text };
  });
  var contactButton = el("button", { type: "submit", class: "nh-send" }, T.sendContact);
  contact.appendChild(contactButton);
  details.appendChild(contact);

  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(status);
  panel.appendChild(notice);
  panel.appendChild(form);
  panel.appendChild(details);
  root.appendChild(panel);
  root.appendChild(launcher);
  document.body.appendChild(root);

  function show(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) { log.scrollTop = log.scrollHeight; input.focus(); } else { launcher.focus(); }
  }
  launcher.addEventListener("click", function () { show(panel.hidden); });
  closer.addEventListener("click", function () { show(false); });
  panel.addEventListener("keydown", function (event) { if (event.key === "Escape") { show(false); } });

  function say(role, text) {
    var item = el("li", { class: "nh-msg nh-" + role });
    item.appendChild(el("span", { class: "nh-who" }, (role === "user" ? T.you : T.bot) + ": "));
    item.appendChild(el("span", { class: "nh-text" }, text));
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }

  function failure(response) {
    if (!response) { return T.offline; }
    var wait = parseInt(response.headers.get("Retry-After") || "", 10);
    if (response.status === 429) { return fill(T.tooMany, { s: wait > 0 ? wait : 30 }); }
    if (response.status === 503 || response.status === 502 || response.status === 504) {
      return fill(T.unavailable, { s: wait > 0 ? wait : 10 });
    }
    return fill(T.failed, { code: response.status });
  }

  function headers() {
    var sent = { "Content-Type": "application/json" };
    if (session.token) { sent["X-Session-Token"] = session.token; }
    return sent;
  }

  function busy(on) {
    sendButton.disabled = on;
    contactButton.disabled = on;
    status.textContent = on ? T.sending : "";
    status.classList.toggle("nh-error", false);
  }

  function post(body) {
    if (session.id) { body.session_id = session.id; }
    body.language = LANG;
    busy(true);
    return fetch(BASE + "/api/chatbot/chat", { method: "POST", headers: headers(), body: JSON.stringify(body) })
      .then(function (response) {
        if (!response.ok) { throw response; }
        return response.json();
      })
      .then(function (answer) {
        busy(false);
        session.id = answer.session_id;
        if (answer.session_token) { session.token = answer.session_token; }
        saveSession(session);
        say("user", body.message);
        say("bot", answer.reply);
        return true;
      }, function (error) {
        busy(false);
        status.textContent = failure(error instanceof Response ? error : null);
        status.classList.add("nh-error");
        return false;
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { input.focus(); return; }
    post({ message: text }).then(function (sent) { if (sent) { input.value = ""; } input.focus(); });
  });

  contact.addEventListener("submit", function (event) {
    event.preventDefault();
    var address = email.value.trim();
    if (!address || !email.checkValidity()) { email.setAttribute("aria-invalid", "true"); email.focus(); return; }
    email.removeAttribute("aria-invalid");
    var body = { message: T.mine + address, email: address };
    var marketing = boxes.marketing.box.checked;
    // Only a ticked box is sent: an unticked one withholds nothing anybody gave before.
    if (marketing) { body.marketing_consent = true; }
    if (boxes.processing.box.checked) { body.rodo_consent = true; }
    if (marketing || boxes.processing.box.checked) { body.consent_text_version = texts ? texts.version : ""; }
    post(body).then(function (sent) {
      if (!sent) { return; }
      if (marketing) { notice.textContent = fill(T.confirm, { email: address }); }
      details.open = false;
      input.focus();
    });
  });

  fetch(BASE + "/widget/consent-texts.json").then(function (response) {
    if (!response.ok) { throw response; }
    return response.json();
  }).then(function (loaded) {
    texts = loaded;
    Object.keys(boxes).forEach(function (purpose) {
      boxes[purpose].label.textContent = loaded.texts[LANG][purpose];
      boxes[purpose].label.setAttribute("data-version", loaded.version);
    });
    root.setAttribute("data-consent-version", loaded.version);
  }, function () {
    details.hidden = true; // no texts, no consent to ask for
  });

  var ROLES = { MESSAGE_ROLE_USER: "user", 1: "user" };
  if (session.id && session.token) {
    fetch(BASE + "/api/chatbot/conversations/" + encodeURIComponent(session.id), { headers: headers() })
      .then(function (response) {
        if (response.status === 404) { session = {}; saveSession(session); return null; }
        if (!response.ok) { throw response; }
        return response.json();
      })
      .then(function (conversation) {
        if (!conversation) { say("bot", T.intro); return; }
        (conversation.messages || []).forEach(function (message) {
          say(ROLES[message.role] || "bot", message.text);
        });
        notice.textContent = T.resumed;
        show(true);
      }, function (error) {
        status.textContent = failure(error instanceof Response ? error : null);
        status.classList.add("nh-error");
      });
  } else {
    say("bot", T.intro);
  }
}());
