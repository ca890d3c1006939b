"""Form by construction: sample a poem word by word so that every line scans in the
requested meter and ends on a word that rhymes under the requested scheme.

At each token the model's own next-token scores (over `Lexicon.vocab`) are kept only
for the continuations the form allows, renormalised, and sampled with the usual
settings (repetition penalty and temperature on the scores; top-k and top-p over the
allowed options; the seed fixes the draw):

- at a word start: first tokens of table words whose shape (syllables, stress) keeps
  the line live in the meter automaton (`meter.live_states`), or that may end the line
  as one of its planned rhyme words (`rhyme.RhymeIndex.final_candidates`); after a
  word, also a punctuation mark; spelt as the poet does (`Lexicon`: capitalised at a
  line start and after . ! ? …, lowercase elsewhere); a rhyme word never follows a
  sentence break (". Луна" closing a line reads as a filler), and rare words carry the
  lexicon's rare-word prior;
- inside a word: the tokens that continue an allowed word, and, where the word read so
  far is itself allowed, closing it: the model's mass on tokens that start something
  else (`Lexicon.boundary`);
- after a line's last word: punctuation, then the line break (a stanza break, or the
  end, as the form says).
A line whose partner left it no rhyme is a dead end: the decoder goes back to the
partner line, bans its last word there, and writes it again. A word start with no
allowed option (not expected: the automaton only admits live states) backs off one
word, then the whole line. The log counts both. Words outside the table are never
written (`words` module).

    out = write_formed(model, tokenizer, preset, prompt, request_form("iamb", 4, "ABAB"),
                       table, Sampling(0.8, 0.95, 1.1), seed=0)
    out["text"], out["log"]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from qwen_qlora.generation.decode import Sampling
from qwen_qlora.generation.form.lexicon import Lexicon
from qwen_qlora.generation.form.meter import line_automaton, live_states
from qwen_qlora.generation.form.rhyme import Choice, LinePlan, RhymeIndex, plan_lines
from qwen_qlora.generation.form.words import WordTable
from qwen_qlora.model.adapted import adapter_switch
from qwen_qlora.model.head import backbone_and_head, logit_transform
from qwen_qlora.model.prompts import Shot, prompt_ids

MAX_PUNCTUATION = 2   # punctuation tokens in a row (",", " —")


class DeadEnd(Exception):
    """No allowed continuation: the caller backs off."""


class GaveUp(RuntimeError):
    """The decoder backed off `max_backtracks` times without finishing the poem."""


class _Model:
    """The model's next-token scores over the lexicon's vocabulary, with a key-value
    cache that is rebuilt from the tokens when the decoder backs off."""

    def __init__(self, model: Any, lexicon: Lexicon, prompt: list[int]):
        self.backbone, head = backbone_and_head(model)
        self.device = next(model.parameters()).device
        self.transform = logit_transform(model)
        self.weight = head.weight[lexicon.vocab.to(self.device)]
        self.prompt = prompt
        self.forwards = 0
        self.reset([])

    def reset(self, tokens: list[int]) -> None:
        ids = torch.tensor([self.prompt + tokens], device=self.device)
        self._run(ids, torch.arange(ids.shape[1], device=self.device)[None], None)
        self.length = ids.shape[1]

    def feed(self, token: int) -> None:
        pos = torch.tensor([[self.length]], device=self.device)
        self._run(torch.tensor([[token]], device=self.device), pos, self.cache)
        self.length += 1

    def _run(self, ids, positions, cache) -> None:
        out = self.backbone(input_ids=ids, position_ids=positions, cache=cache, use_cache=True)
        self.forwards += 1
        self.cache = out.cache
        logits = out.last_hidden_state[0, -1] @ self.weight.t()
        if self.transform["scale"] != 1.0:
            logits = logits * self.transform["scale"]
        if self.transform["softcap"] is not None:
            logits = torch.tanh(logits / self.transform["softcap"]) * self.transform["softcap"]
        self.logits = logits.float().cpu()


@dataclass
class _Line:
    """Progress of the line being written: the automaton state at each word start
    (for backing off), the words so far, and the token count where each word began."""

    plan: LinePlan
    start_token: int
    states: list = field(default_factory=list)
    words: list[tuple[int, int]] = field(default_factory=list)
    word_starts: list[int] = field(default_factory=list)


class FormWriter:
    """One poem's decoding state; `write_formed` drives it."""

    def __init__(self, lm: _Model, lexicon: Lexicon, index: RhymeIndex, form: dict, plans: list[LinePlan],
                 sampling: Sampling | None, seed: int, history: list[int]):
        self.lm, self.lex, self.index, self.form, self.plans = lm, lexicon, index, form, plans
        self.sampling = sampling
        self.gen = torch.Generator().manual_seed(seed)
        self.tokens: list[int] = []
        self.prompt_history = [lexicon.column[t] for t in history if t in lexicon.column]
        self.line_ends: dict[int, Choice] = {}
        self.line_starts: dict[int, int] = {}
        self.banned: dict[int, set[Choice]] = {}
        self.log = {"line_dead_ends": 0, "word_dead_ends": 0, "backtracks": [], "lines": [],
                    "allowed_mass": []}

    # --- sampling -------------------------------------------------------------------
    def _scores(self) -> torch.Tensor:
        scores = self.lm.logits.clone()
        if self.sampling is None:
            return scores
        if self.sampling.repetition_penalty != 1.0:
            cols = torch.tensor(sorted(set(self.prompt_history + [self.lex.column[t] for t in self.tokens])),
                                dtype=torch.long)
            if len(cols):
                picked = scores[cols]
                p = self.sampling.repetition_penalty
                scores[cols] = torch.where(picked < 0, picked * p, picked / p)
        return scores / self.sampling.temperature if self.sampling.temperature != 1.0 else scores

    def _choose(self, columns: np.ndarray, extra: list[float], record: bool = False,
                bias: np.ndarray | None = None) -> int:
        """Index into columns + extra (extra: logits of pseudo-options such as closing a
        word), sampled from the allowed options only; `bias`: a prior added to each
        option's logit (the rare-word prior). `record`: log the model's own probability
        mass on the allowed columns (at word starts)."""
        if len(columns) + len(extra) == 0:
            raise DeadEnd
        scores = self._scores()
        values = torch.cat([scores[torch.from_numpy(columns)], torch.tensor(extra, dtype=torch.float32)])
        if bias is not None:
            values = values + torch.from_numpy(np.asarray(bias, dtype=np.float32))
        if record:
            raw = torch.log_softmax(self.lm.logits, -1)
            self.log["allowed_mass"].append(float(torch.logsumexp(raw[torch.from_numpy(columns)], 0).exp()))
        if self.sampling is None or len(values) == 1:
            return int(values.argmax())
        return int(torch.multinomial(_truncate(values, self.sampling), 1, generator=self.gen))

    def _close_logit(self) -> float:
        return float(torch.logsumexp(self._scores()[self.lex.boundary], 0))

    def _token_logit(self, token: int) -> float:
        return float(self._scores()[self.lex.column[token]])

    def _emit(self, token: int) -> None:
        self.tokens.append(token)
        self.lm.feed(token)

    # --- one line ---------------------------------------------------------------------
    def write_line(self, plan: LinePlan) -> None:
        """Write one line (its break included); DeadEnd when its rhyme has no candidate."""
        finals = self.index.final_candidates(plan, self.line_ends, self.plans,
                                             frozenset(self.banned.get(plan.index, ())))
        if not finals:
            raise DeadEnd
        auto = line_automaton(self.form["meter"], self.form["feet"], plan.clausula)
        final_shape = {c: (self.lex.table.entries[c[0]].n_syllables,
                           self.lex.table.entries[c[0]].stresses[c[1]]) for c in finals}
        live = live_states(auto, self.lex.shapes, set(final_shape.values()))
        marks = self._final_marks(finals, final_shape)
        by_entry: dict[int, list[Choice]] = {}
        for c in finals:
            by_entry.setdefault(c[0], []).append(c)
        line = _Line(plan, len(self.tokens))
        state = auto.start()
        if not live(state):
            raise DeadEnd
        banned_here: dict[int, set[int]] = {}
        while True:
            n_words = len(line.words)
            prev_empty = n_words > 0 and self.lex.table.entries[line.words[-1][0]].n_syllables == 0
            cont = [k for k, (n, s) in enumerate(self.lex.shapes)
                    if not (n == 0 and (prev_empty or n_words == 0))
                    and (nxt := auto.step(state, n, s)) is not None and live(nxt)]
            # a preposition ("в", "с") leads into a word of the line, never into the rhyme word
            # (". В лёд." closing a line is a filler), so it needs a word to lead into
            if not any(self.lex.shapes[k][0] for k in cont):
                cont = []
            ends = [] if prev_empty else [k for k, (n, s) in enumerate(self.lex.shapes)
                                          if n and auto.ends(state, n, s)]
            start = len(self.tokens)
            try:
                word = self._word(state, line, cont, ends, marks, by_entry, banned_here.get(n_words, set()))
            except DeadEnd:  # back off the word before this one, and never take it there again
                self.log["word_dead_ends"] += 1
                if len(self.tokens) > start:
                    self._rollback(start)
                if not line.words:
                    raise
                entry, _ = line.words.pop()
                state = line.states.pop()
                banned_here.setdefault(len(line.words), set()).add(entry)
                self._rollback(line.word_starts.pop())
                continue
            entry, k, final = word
            line.states.append(state)
            line.words.append((entry, k))
            line.word_starts.append(start)
            if final:
                self.line_ends[plan.index] = (entry, k)
                self._line_break(plan)
                e = self.lex.table.entries[entry]
                self.log["lines"].append({"line": plan.index, "end": e.text, "stress": e.stresses[k],
                                          "candidates": len(finals)})
                return
            n, s = self.lex.table.entries[entry].n_syllables, self.lex.table.entries[entry].stresses[k]
            state = auto.step(state, n, s)

    def _final_marks(self, finals: list[Choice], final_shape: dict) -> dict[str, Any]:
        """Per trie: node -> bitmask of the final shapes of the line's end words below it;
        per root ("root_<trie>"): (row, bitmask) of the first tokens that lead to them."""
        out: dict[str, Any] = {}
        for name, trie in self.lex.tries.items():
            marks: dict[int, int] = {}
            spell = self.lex.spell[name]
            for c in finals:
                e = self.lex.table.entries[c[0]]
                bit = 1 << self.lex.shape_id[final_shape[c]]
                for k in spell:
                    if e.tokens[k]:
                        for node in trie.walk(e.tokens[k]):
                            marks[node] = marks.get(node, 0) | bit
            out[name] = marks
            out["root_" + name] = [(row, marks[node]) for node, row in self.lex.root[name].row.items()
                                   if node in marks]
        return out

    def _word(self, state, line: _Line, cont: list[int], ends: list[int], marks, by_entry,
              banned: set[int]) -> tuple[int, int, bool]:
        """Sample one word (punctuation before it allowed); return (entry, stress index,
        ends the line)."""
        at_start = not line.words
        cont_bits = sum(1 << k for k in cont)
        end_bits = sum(1 << k for k in ends)
        # punctuation goes after a word with a vowel, never after "в" or "с"; no sentence
        # break where only the rhyme word may follow
        after_word = not at_start and self.lex.table.entries[line.words[-1][0]].n_syllables > 0
        punct_left = MAX_PUNCTUATION if after_word else 0
        allowed_punct = [t for t in self.lex.punctuation if cont or t not in self.lex.sentence_end]
        name = "start" if at_start else "mid"
        while True:  # the word's first token, or punctuation before it
            root = self.lex.root[name]
            rows = root.member[:, cont].any(1) if cont else np.zeros(len(root.nodes), dtype=bool)
            if end_bits:
                for row, bits in marks["root_" + name]:
                    if bits & end_bits:
                        rows[row] = True
            columns = root.columns[rows]
            punct = np.array([self.lex.column[t] for t in allowed_punct] if punct_left else [], dtype=np.int64)
            bias = np.concatenate([root.bias[rows], np.zeros(len(punct))])
            pick = self._choose(np.concatenate([columns, punct]), [], record=True, bias=bias)
            if pick >= len(columns):
                mark = allowed_punct[pick - len(columns)]
                self._emit(mark)
                punct_left = 0
                if mark in self.lex.sentence_end:  # a new sentence: capitalised, not the rhyme word nor "В"
                    name, end_bits = "cap", 0
                    cont = [k for k in cont if self.lex.shapes[k][0]]
                continue
            token = int(root.tokens[rows][pick])
            node = int(root.nodes[rows][pick])
            break
        trie, fmarks, node_bias = self.lex.tries[name], marks[name], self.lex.bias[name]
        self._emit(token)
        while True:  # inside the word
            entry = trie.word[node]
            closing = None
            if entry >= 0 and entry not in banned:
                closing = self._closing(state, entry, cont_bits, end_bits, by_entry)
            kids = [(t, c) for t, c in trie.children[node].items()
                    if trie.shapes[c] & cont_bits or fmarks.get(c, 0) & end_bits]
            if not kids and closing is None:
                raise DeadEnd  # a banned word with nothing beyond it
            if not kids:
                return closing
            columns = np.array([self.lex.column[t] for t, _ in kids], dtype=np.int64)
            bias = [node_bias[c] - node_bias[node] for _, c in kids]
            if closing:
                bias.append(self.lex.word_bias[entry] - node_bias[node])
            pick = self._choose(columns, [self._close_logit()] if closing else [], bias=np.array(bias))
            if pick == len(kids):
                return closing
            token, node = kids[pick]
            self._emit(token)

    def _closing(self, state, entry: int, cont_bits: int, end_bits: int, by_entry) -> tuple[int, int, bool] | None:
        """How a complete word may stand here: (entry, stress index, ends the line), the
        stress model's own stress first; None if it may not."""
        e = self.lex.table.entries[entry]
        for c in by_entry.get(entry, ()):
            if end_bits >> self.lex.shape_id[(e.n_syllables, e.stresses[c[1]])] & 1:
                return entry, c[1], True
        for k, s in enumerate(e.stresses):
            if cont_bits >> self.lex.shape_id[(e.n_syllables, s)] & 1:
                return entry, k, False
        return None

    def _line_break(self, plan: LinePlan) -> None:
        """Punctuation the model wants, then the break the form asks for."""
        brk = () if plan.last_in_poem else self.lex.stanza_break if plan.last_in_stanza else self.lex.newline
        end_token = self.lex.eos if plan.last_in_poem else brk[0]
        for _ in range(MAX_PUNCTUATION):
            cols = np.array([self.lex.column[t] for t in self.lex.punctuation], dtype=np.int64)
            pick = self._choose(cols, [self._token_logit(end_token)])
            if pick == len(cols):
                break
            self._emit(self.lex.punctuation[pick])
        for t in brk:
            self._emit(t)

    def _rollback(self, n_tokens: int) -> None:
        del self.tokens[n_tokens:]
        self.lm.reset(self.tokens)

    # --- the poem -----------------------------------------------------------------------
    def write(self, max_backtracks: int) -> None:
        i = 0
        while i < len(self.plans):
            plan = self.plans[i]
            self.line_starts[i] = len(self.tokens)
            try:
                self.write_line(plan)
                i += 1
                continue
            except DeadEnd:
                self.log["line_dead_ends"] += 1
            # a partner left no rhyme: write the partner line again, without that word;
            # a line that opens a pair (or has no rhyme) is written again as it is
            back = plan.partner if plan.partner is not None else i
            if len(self.log["backtracks"]) >= max_backtracks:
                raise GaveUp(f"form decoder: gave up after {max_backtracks} backtracks at "
                                   f"line {i + 1}; the word table may be too small for the form "
                                   f"{self.form['meter']} {self.form['feet']} {self.form['scheme']}")
            given_up = self.lex.table.entries[self.line_ends[back][0]].text if back != i else None
            self.log["backtracks"].append({"line": i, "to": back, "gave_up": given_up})
            self.log["lines"] = [ln for ln in self.log["lines"] if ln["line"] < back]
            if back != i:
                self.banned.setdefault(back, set()).add(self.line_ends[back])
            for j in range(back + 1, len(self.plans)):
                self.banned.pop(j, None)
            for j in range(back, len(self.plans)):
                self.line_ends.pop(j, None)
            self._rollback(self.line_starts[back])
            i = back


def _truncate(values: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """Probabilities after top-k and top-p over the allowed options (`transformers`'
    rules: top-p keeps the smallest set whose mass reaches p, at least one option)."""
    if sampling.top_k and sampling.top_k < len(values):
        kth = torch.topk(values, sampling.top_k).values[-1]
        values = values.masked_fill(values < kth, float("-inf"))
    probs = torch.softmax(values, -1)
    if sampling.top_p < 1.0:
        order = torch.argsort(probs, descending=True)
        cum = torch.cumsum(probs[order], 0)
        drop = cum - probs[order] >= sampling.top_p
        drop[0] = False
        probs[order[drop]] = 0.0
        probs = probs / probs.sum()
    return probs


def write_formed(model: Any, tokenizer: Any, preset: Any, prompt: str, form: dict, table: WordTable,
                 sampling: Sampling | None, seed: int, *, lexicon: Lexicon | None = None,
                 index: RhymeIndex | None = None, adapter: bool = True, shots: Sequence[Shot] = (),
                 clausulas: tuple[int, int] = (1, 0), max_backtracks: int = 30) -> dict:
    """A poem in `form` (`metrics.form_annotation.request_form`: meter, feet, scheme,
    stanzas of 4 lines) after `prompt` (with few-shot `shots` before it, as `sample`):
    {text, log}. Pass `lexicon` and `index` (built from `table`) to reuse them across
    poems. `sampling` None decodes greedily."""
    if form.get("feet") is None:
        raise ValueError("form decoder: the request must name its feet (ictus count)")
    if len(set(form["stanza_lines"])) != 1:
        raise ValueError(f"form decoder: stanzas of one length only; got {form['stanza_lines']}")
    lexicon = lexicon or Lexicon(table, tokenizer)
    index = index or RhymeIndex(table)
    plans = plan_lines(form["scheme"], form["n_stanzas"], form["stanza_lines"][0], clausulas)
    head = prompt_ids(preset, tokenizer, prompt, shots)
    model.eval()
    with torch.no_grad(), adapter_switch(model, adapter):
        writer = FormWriter(_Model(model, lexicon, head), lexicon, index, form, plans, sampling, seed, head)
        writer.write(max_backtracks)
        forwards = writer.lm.forwards
    mass = writer.log.pop("allowed_mass")
    log = {**writer.log, "tokens": len(writer.tokens), "forwards": forwards,
           "allowed_mass_mean": round(float(np.mean(mass)), 4) if mass else math.nan}
    return {"text": tokenizer.decode(writer.tokens, skip_special_tokens=True).strip(), "log": log}
