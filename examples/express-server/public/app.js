// The sluice demo page: plain browser ESM, no framework, no build step.
// It streams a reply with @sluice/client, tints each finished sentence by its sentiment, keeps a
// running conversation gauge, resumes dropped connections, stops on request, and shows the
// conversation again after a reload.
import { getConversation, resumeRun, SluiceClientError, streamChat } from '@sluice/client';

const API = '/api';
const STORAGE_KEY = 'sluice-demo';

const elements = {
  log: document.getElementById('log'),
  empty: document.getElementById('empty'),
  error: document.getElementById('error'),
  composer: document.getElementById('composer'),
  prompt: document.getElementById('prompt'),
  send: document.getElementById('send'),
  stop: document.getElementById('stop'),
  connection: document.getElementById('connection'),
  connectionText: document.getElementById('connection-text'),
  gauge: document.getElementById('gauge'),
  gaugeMarker: document.getElementById('gauge-marker'),
  gaugeSummary: document.getElementById('gauge-summary'),
  trend: document.getElementById('trend'),
  counts: {
    positive: document.getElementById('count-positive'),
    neutral: document.getElementById('count-neutral'),
    negative: document.getElementById('count-negative'),
  },
  newConversation: document.getElementById('new-conversation'),
  conversationId: document.getElementById('conversation-id'),
};

// ---- what survives a reload: the conversation, the run in flight, the last gauge reading ----

/** @type {{ conversationId?: string, activeRunId?: string, gauge?: object }} */
let saved = readSaved();

function readSaved() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '{}') ?? {};
  } catch {
    return {};
  }
}

function save(changes) {
  saved = { ...saved, ...changes };
  localStorage.setItem(STORAGE_KEY, JSON.stringify(saved));
  elements.conversationId.textContent = saved.conversationId ?? 'none yet';
}

// ---- messages ----

function addMessage(role) {
  elements.empty.hidden = true;
  const article = document.createElement('article');
  article.className = `message message-${role}`;
  const label = document.createElement('p');
  label.className = 'message-role';
  label.textContent = role === 'user' ? 'You' : 'Assistant';
  const content = document.createElement('p');
  content.className = 'message-content';
  const meta = document.createElement('div');
  meta.className = 'message-meta';
  article.append(label, content, meta);
  elements.log.append(article);
  return { article, content, meta };
}

function scrollToEnd() {
  elements.log.scrollTop = elements.log.scrollHeight;
}

function addBadge(meta, text, tone) {
  const badge = document.createElement('span');
  badge.className = tone === undefined ? 'badge' : `badge badge-${tone}`;
  badge.textContent = text;
  meta.append(badge);
  return badge;
}

function showUserMessage(text) {
  const { content } = addMessage('user');
  content.textContent = text;
  scrollToEnd();
}

/** An assistant message as it streams: the text so far, with finished sentences tinted. */
class AssistantMessage {
  constructor() {
    const { article, content, meta } = addMessage('assistant');
    this.article = article;
    this.content = content;
    this.meta = meta;
    this.text = '';
    this.sentences = [];
    this.frame = 0;
    article.dataset.streaming = '';
    // Screen readers announce the message once it is complete, not every token.
    article.setAttribute('aria-busy', 'true');
  }

  setText(text) {
    this.text = text;
    this.scheduleRender();
  }

  addSentence(sentence) {
    this.sentences.push(sentence);
    this.sentences.sort((a, b) => a.start - b.start);
    this.scheduleRender();
  }

  setMessageSentiment(sentiment) {
    const tone = sentiment.label === 'neutral' ? undefined : sentiment.label;
    addBadge(this.meta, `message: ${sentiment.label} (${formatScore(sentiment.score)})`, tone);
  }

  finish(reason) {
    delete this.article.dataset.streaming;
    this.article.removeAttribute('aria-busy');
    this.article.dataset.finishReason = reason;
    if (reason === 'aborted') addBadge(this.meta, 'stopped', 'warning');
    this.render();
  }

  fail(message) {
    delete this.article.dataset.streaming;
    this.article.removeAttribute('aria-busy');
    this.article.dataset.finishReason = 'error';
    addBadge(this.meta, message, 'negative');
    this.render();
  }

  // One render per animation frame, however many deltas arrive in it.
  scheduleRender() {
    if (this.frame !== 0) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  render() {
    if (this.frame !== 0) cancelAnimationFrame(this.frame);
    this.frame = 0;
    const text = this.text;
    const fragment = document.createDocumentFragment();
    let position = 0;
    for (const sentence of this.sentences) {
      // `start` and `end` are offsets into the message text (UTF-16, as slice counts).
      if (sentence.start < position || sentence.end > text.length) continue;
      if (sentence.start > position) fragment.append(text.slice(position, sentence.start));
      const span = document.createElement('span');
      span.className = `sentence sentence-${sentence.label}`;
      span.title = `${sentence.label} (${formatScore(sentence.score)})`;
      span.dataset.score = String(sentence.score);
      span.textContent = text.slice(sentence.start, sentence.end);
      fragment.append(span);
      position = sentence.end;
    }
    fragment.append(text.slice(position));
    this.content.replaceChildren(fragment);
    scrollToEnd();
  }
}

function formatScore(score) {
  return `${score >= 0 ? '+' : ''}${score.toFixed(2)}`;
}

// ---- the conversation gauge ----

function showGauge(aggregate) {
  if (aggregate === undefined) {
    elements.gaugeMarker.style.left = '50%';
    elements.gauge.setAttribute('aria-valuenow', '0');
    elements.gauge.setAttribute('aria-valuetext', 'No sentences yet');
    elements.gaugeSummary.textContent = 'No sentences yet.';
    elements.trend.textContent = 'Trend: steady';
    for (const label of ['positive', 'neutral', 'negative']) elements.counts[label].textContent = '0';
    return;
  }
  const mean = Math.max(-1, Math.min(1, aggregate.mean));
  elements.gaugeMarker.style.left = `${((mean + 1) / 2) * 100}%`;
  elements.gauge.setAttribute('aria-valuenow', mean.toFixed(2));
  const mood = mean > 0.05 ? 'positive' : mean < -0.05 ? 'negative' : 'neutral';
  elements.gauge.setAttribute('aria-valuetext', `${mood}, mean ${formatScore(mean)}`);
  elements.gaugeSummary.textContent = `Mean ${formatScore(mean)} over ${aggregate.sentences} sentence${aggregate.sentences === 1 ? '' : 's'}`;
  if (aggregate.min !== null && aggregate.max !== null) {
    elements.gaugeSummary.textContent += ` (from ${formatScore(aggregate.min)} to ${formatScore(aggregate.max)})`;
  }
  for (const label of ['positive', 'neutral', 'negative']) elements.counts[label].textContent = String(aggregate[label]);
  elements.trend.textContent = `Trend: ${aggregate.trend?.direction ?? 'steady'}`;
}

// ---- the connection indicator ----

const STATUS_TEXT = {
  idle: 'Ready',
  connecting: 'Connecting…',
  streaming: 'Streaming',
  reconnecting: 'Connection lost, reconnecting…',
  done: 'Done',
  error: 'Failed',
  detached: 'Stopped listening',
};

let resumes = 0;

function showStatus(status, detail) {
  document.body.dataset.status = status;
  elements.connection.dataset.status = status;
  let text = STATUS_TEXT[status] ?? status;
  if (status === 'streaming' && resumes > 0) text = `Streaming (resumed after ${resumes} dropped connection${resumes === 1 ? '' : 's'})`;
  if (status === 'done' && resumes > 0) text = `Done (resumed ${resumes}×, nothing lost)`;
  if (detail !== undefined) text = `${text} ${detail}`;
  elements.connectionText.textContent = text;
}

function onResume(attempt) {
  if (attempt.attempt === 1) resumes++;
  elements.connection.dataset.resumes = String(resumes);
  showStatus('reconnecting', `(attempt ${attempt.attempt} of ${attempt.maxAttempts})`);
}

function showError(error) {
  const message = SluiceClientError.isInstance(error) ? `${error.message} [${error.code}]` : String(error);
  elements.error.textContent = message;
  elements.error.hidden = false;
}

// ---- running a chat ----

/** @type {import('@sluice/client').ChatRun | undefined} */
let current;

function setBusy(busy) {
  elements.send.disabled = busy;
  elements.stop.disabled = !busy;
  elements.prompt.setAttribute('aria-busy', String(busy));
}

/** Follows a run (new or reattached) into an assistant message until it ends. */
async function follow(chat, message) {
  current = chat;
  setBusy(true);
  try {
    for await (const event of chat) {
      switch (event.type) {
        case 'start':
          save({ conversationId: chat.conversationId ?? saved.conversationId, activeRunId: chat.runId });
          break;
        case 'text-delta':
          message.setText(chat.text);
          break;
        case 'data':
          if (event.name === 'sentiment') showSentiment(event.data, message);
          break;
        case 'finish':
          message.setText(chat.text);
          message.finish(event.reason);
          break;
      }
    }
  } catch (error) {
    message.fail(SluiceClientError.isInstance(error) ? error.code : 'failed');
    showError(error);
  } finally {
    save({ activeRunId: undefined });
    current = undefined;
    setBusy(false);
  }
}

function showSentiment(data, message) {
  if (data.scope === 'sentence') message.addSentence(data);
  else if (data.scope === 'message') message.setMessageSentiment(data);
  else if (data.scope === 'conversation') {
    showGauge(data);
    save({ gauge: data });
  }
}

function runOptions() {
  resumes = 0;
  delete elements.connection.dataset.resumes;
  return { baseURL: API, onStatusChange: (status) => showStatus(status), onResume };
}

async function send(text) {
  elements.error.hidden = true;
  showUserMessage(text);
  const message = new AssistantMessage();
  let chat;
  try {
    chat = streamChat({ ...runOptions(), messages: [{ role: 'user', content: text }], conversationId: saved.conversationId });
  } catch (error) {
    message.fail('invalid');
    showError(error);
    return;
  }
  await follow(chat, message);
}

elements.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = elements.prompt.value.trim();
  if (text === '' || current !== undefined) return;
  elements.prompt.value = '';
  void send(text);
});

elements.prompt.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    elements.composer.requestSubmit();
  }
});

elements.stop.addEventListener('click', () => {
  if (current === undefined) return;
  elements.stop.disabled = true;
  current.cancel().catch(showError);
});

elements.newConversation.addEventListener('click', () => {
  if (current !== undefined) return;
  save({ conversationId: undefined, activeRunId: undefined, gauge: undefined });
  elements.log.replaceChildren(elements.empty);
  elements.empty.hidden = false;
  elements.error.hidden = true;
  showGauge(undefined);
  showStatus('idle');
});

// ---- after a reload: the history, and the run that was streaming ----

async function restore() {
  elements.conversationId.textContent = saved.conversationId ?? 'none yet';
  if (saved.conversationId === undefined) return;
  let messages;
  try {
    ({ messages } = await getConversation(API, saved.conversationId));
  } catch (error) {
    // The server forgot the conversation (an in-memory server restarted): start afresh.
    if (SluiceClientError.isInstance(error) && error.code === 'not_found') save({ conversationId: undefined, activeRunId: undefined, gauge: undefined });
    else showError(error);
    return;
  }
  const { activeRunId } = saved;
  // A run still in flight at the reload is replayed in full below (with its sentiment), so its
  // message is not shown twice.
  if (activeRunId !== undefined && messages.at(-1)?.role === 'assistant') messages = messages.slice(0, -1);
  for (const stored of messages) {
    if (stored.role === 'user') showUserMessage(stored.content);
    else if (stored.role === 'assistant') {
      const message = new AssistantMessage();
      message.setText(stored.content);
      message.finish(stored.finishReason ?? 'stop');
    }
  }
  if (saved.gauge !== undefined) showGauge(saved.gauge);
  if (activeRunId !== undefined) {
    const message = new AssistantMessage();
    await follow(resumeRun({ ...runOptions(), runId: activeRunId, conversationId: saved.conversationId }), message);
  }
}

showGauge(undefined);
void restore();
