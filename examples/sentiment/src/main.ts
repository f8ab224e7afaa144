// The seed's third use case: real-time NLP on the stream. Each sentence's sentiment is printed
// as soon as the sentence is complete, while the reply is still streaming; then the message's
// score and the conversation's running aggregate.
// Runs on the built-in fake model; set OPENAI_API_KEY or ANTHROPIC_API_KEY (or SLUICE_PROVIDER)
// to stream from a real provider instead.
import { HumanMessage, type Message } from '@sluice/core';
import { modelFromEnv } from '@sluice/example-providers';
import { SentimentHandler, isSentimentEvent, type SentimentLabel } from '@sluice/wink-nlp';

const marks: Record<SentimentLabel, string> = { positive: '+', neutral: '·', negative: '-' };
const fakeReplies = [
  'I tried the new espresso place downtown this morning. The coffee was wonderful, rich and smooth! ' +
    'Sadly, the service was terribly slow, and my order was wrong twice. It cost $4.50, i.e. more than usual. ' +
    'Still, the pastries were delicious.\n\nWould I go back? Probably, but not in a hurry.',
  'The second visit was much better. The staff were friendly and quick, and everything was perfect. I love that place now!',
];

const sentiment = new SentimentHandler();
// `responses` scripts the fake model's replies; real providers ignore it.
const options = { streaming: true, responses: fakeReplies };
const chat = await modelFromEnv(options);
const conversationId = 'espresso-review';
const history: Message[] = [];

for (const prompt of ['How was your coffee this morning?', 'And the second time?']) {
  history.push(new HumanMessage(prompt));
  console.log(`\n> ${prompt}\n`);
  const stream = chat.stream(history, { callbacks: [sentiment], conversationId });
  for await (const event of stream) {
    if (!isSentimentEvent(event)) continue;
    const data = event.data;
    if (data.scope === 'sentence') {
      // Printed while the reply is still streaming, as soon as the sentence is complete.
      console.log(`  [${marks[data.label]} ${data.score.toFixed(2).padStart(5)}] ${data.text.replace(/\s+/g, ' ')}`);
    } else if (data.scope === 'message') {
      console.log(`\n  message: ${data.label} ${data.score.toFixed(3)} over ${data.sentences} sentences ` +
        `(${data.positive} positive, ${data.neutral} neutral, ${data.negative} negative)`);
    } else {
      const trend = data.trend;
      console.log(`  conversation so far: mean ${data.mean.toFixed(3)} (weighted by words), ` +
        `min ${data.min?.toFixed(2) ?? 'n/a'}, max ${data.max?.toFixed(2) ?? 'n/a'}, ` +
        `${data.sentences} sentences in ${data.messages} messages, trend ${trend.direction} (${trend.slope.toFixed(3)}/sentence)`);
    }
  }
  history.push((await stream).message);
}

const aggregate = sentiment.aggregate(conversationId);
console.log(`\nAggregate for "${conversationId}":`, JSON.stringify(aggregate, null, 2));
