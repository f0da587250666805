"""Retrieval for Mandarin questions: BM25 over jieba words and character bigrams (scipy sparse matrices).

Both the entries and the questions first go through the domain synonym map (ground/data/kb_synonyms.yml).
Each entry is scored on its question and paraphrases together, plus its single closest phrasing, a
little on its answer and on its topic (all the topic's phrasings as one document). `decide()` turns
scores into answer / clarify / no answer using how much of the question's information the best entry
covers (or how much of its closest phrasing the question holds) and how far it leads the next one, so
that a question outside the knowledge base is never answered confidently with a wrong entry.

A second, character-level view ranks with it (issue #18): each entry's phrasings as one TF-IDF centroid of
character uni- and bigrams, compared by cosine with the question, so that "老年人" and "老人", or a word
jieba cuts differently, still meet. The two scores are fused (BM25 over its best, plus CENTROID_WEIGHT times
the cosine over its best) and a small logistic model over the best entry's features (nlu/kb_confidence.py,
fitted by bench/kb_tune.py on the development set) says how sure the ranking is: `decide()` answers from
ANSWER_CONFIDENCE on, clarifies from CLARIFY_CONFIDENCE (or the old coverage floor) on.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date
from typing import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from ground.store.knowledge import Entry
from nlu import kb_confidence
from nlu.kb_synonyms import default_synonyms

_FILLER = re.compile(
    r"(你好|您好|请问|麻烦问一下|我想问一下|想问一下|我想咨询一下|咨询一下|我想了解一下|了解一下|问一下|"
    r"我想问|想问|我问一下|那个|就是|一下|的话|怎么回事|听说)"
)
_PUNCT = re.compile(r"[\s，,。.！!？?、；;：:“”\"'（）()【】\[\]…·\-~～]+")
STOPWORDS = frozenset(
    "我 我们 你 你们 您 他 她 它 他们 的 了 吗 呢 吧 啊 呀 嘛 哈 呗 是 在 有 和 跟 与 就 都 也 还 又 要 想 能 会 可以 "
    "怎么 怎么样 怎样 如何 什么 啥 哪 哪里 哪儿 哪些 为什么 为啥 多少 几 吗 不 没 没有 这 那 这个 那个 这样 那样 一个 "
    "个 些 给 让 被 把 对 从 到 去 来 说 问 请 下 上 里 中 家 现在 已经 然后 因为 所以 但是 如果 得 地 着 过".split()
)
# Words any service question may hold (what, where, how long, which papers): they say what the citizen
# wants to know, not what about. A question made only of these (after stop words) is a follow-up to the
# last answer ("那要带什么材料？", "在哪里办？", "要多久？"); the other words are its key entities.
GENERIC = frozenset(
    "办 办理 怎么办理 办证 证 证件 手续 材料 资料 带 准备 需要 需 得 用 必须 能不能 可不可以 行不行 是不是 可以吗 "
    "能 可以 申请 流程 步骤 程序 条件 要求 规定 政策 标准 哪儿 哪个 地方 地址 地点 窗口 部门 单位 找 找谁 谁 "
    "电话 热线 网上 线上 网站 现场 本人 代办 别人 时间 多久 多长时间 几天 天 时候 什么时候 周期 多长 钱 费用 "
    "收费 费 交钱 办法 花钱 免费 要钱 多少钱 吗 问题 情况 事 事情 还 另外 再 其他 别的 一样 同样 呢 那么 然后 那 "
    "好 谢谢 知道 告诉 说 讲 问问 问 一般 大概 具体 应该 最 先 后 之后 以后 完 完了 结果 查 查询 进度 到 拿 领 取 "
    "办完 办好 去 走 送 交 提交 能否 是否 有没有 有 没".split()
)
K1, B = 1.2, 0.75
USE_SYNONYMS = True
QUESTION_WEIGHT = 1.0  # the entry's own question counts this many times its paraphrases
PHRASING_WEIGHT = 1.0  # the best single phrasing's score added to the entry's (all phrasings together)
TOPIC_WEIGHT = 0.5  # share of the topic's score (all its phrasings as one document) added to each entry
ANSWER_WEIGHT = 0.3  # words of the answer help ranking a little, but do not count as covering the question
UNKNOWN_WEIGHT = 1.0  # a query term no entry holds counts as this share of the rarest term missed

# The former answer rule (before the confidence model of nlu/kb_confidence.py answered instead): kept as
# bench/kb_tune.py's comparison grid and as what `coverage` and `fit` are read against. On the development
# set it answered right 40.2 % with 3.2 % wrong in scope and 9.4 % out of scope; the confidence model, at the
# same place, 45.2 % with 2.5 % and 3.1 % (cross-validated).
ANSWER_COVERAGE = 0.50   # share of the question's information the best entry must cover to answer ...
ANSWER_FIT = 0.60        # ... or share of its closest phrasing the question holds (a long story around it) ...
MARGIN_RATIO = 0.80      # ... while the runner-up scores at most this share of the best
SURE_COVERAGE = 0.95     # covering this much answers whatever the runner-up
CLARIFY_COVERAGE = 0.20  # below an answer but above this: ask "您是想问…吗"


CORE_SHARE = 0.5         # a key term in at least this share of an entry's phrasings is one of its core terms

CENTROID_WEIGHT = 1.0    # the character centroid's cosine (over its best) next to BM25 (over its best)
KEY_WEIGHT = 0.6         # the RERANK_DEPTH best are re-ranked adding this times the share of the question's
RERANK_DEPTH = 10        # key entities their phrasings hold ("老人乘公交" → the elderly entry, not the disabled one)


def normalise(text: str) -> str:
    """The content of a question: no punctuation, greetings or 'I want to ask'."""
    text = _FILLER.sub("", _PUNCT.sub("", text or ""))
    return default_synonyms().fold(text) if USE_SYNONYMS else text


def terms(text: str) -> list[str]:
    """jieba words (search mode) without stop words, plus character bigrams."""
    return _terms_of(normalise(text))


def _terms_of(text: str) -> list[str]:
    """terms() of an already normalised text."""
    import jieba  # lazy: jieba loads its dictionary on first use; parsers that never search skip it

    words = [w for w in jieba.lcut_for_search(text) if w.strip() and w not in STOPWORDS]
    bigrams = ["#" + text[i : i + 2] for i in range(len(text) - 1)]
    return words + bigrams


def key_terms(text: str) -> list[str]:
    """The question's key entities: its jieba words that are neither stop words nor generic service words."""
    return _key_terms_of(normalise(text))


def _key_terms_of(text: str) -> list[str]:
    """key_terms() of an already normalised text."""
    import jieba  # lazy: as in terms(), jieba's dictionary loads on first use only

    keys = []
    for word in jieba.lcut(text):
        if word in STOPWORDS or word in GENERIC:
            continue
        while len(word) > 1 and word[0] in _LEAD_GLUE:  # jieba glues "那要", "养狗要", "能办"
            word = word[1:]
        while len(word) > 1 and word[-1] in _TAIL_GLUE:
            word = word[:-1]
        if word.strip() and word not in STOPWORDS and word not in GENERIC:
            keys.append(word)
    return keys


_LEAD_GLUE, _TAIL_GLUE = frozenset("那这"), frozenset("要能办想吗呢了啊")

# Words of the story around a question (who, when, how it happened): a key term, yet never the qualifier that
# tells one entry from another, so the near-question features (`_qualifier_features`) skip them.
NARRATIVE = frozenset(
    "我家 家里 在家 回家 我妈 我爸 妈 爸 老伴 同学 朋友 家人 有人 突然 新 还有 刚 我刚 刚刚 一直 才 从来 总是 好多 "
    "太多 开始 以前 之前 过去 打算 今年 去年 明年 前年 上个月 下个月 这个月 今天 昨天 明天 晚上 早上 周末 年底 最近 "
    "看看 东西 一起 干 自己 前 遇到 记得 要说 通过 往 行 多 正常 不好 "
    # how the question is put (is it legal, who handles it, where to look it up), not what it is about
    "合法 违法 处理 管 算 算不算 能查 哪查 一步".split()
)
_SPAN = re.compile(r"^[一二两三四五六七八九十百几半好多\d]+(年|个月|月|天|岁|次|周|星期)$")  # 好几年, 两个月
_TRAILING = re.compile(r"[吗呢啊呀吧哈嘛啦]+$")  # particles after a question asked word for word


def _narrative(word: str) -> bool:
    """A story word (NARRATIVE) or a span of time ("好几年", "两个月")."""
    return word in NARRATIVE or bool(_SPAN.match(word))


def is_follow_up(text: str) -> bool:
    """A question that names nothing of its own ("那要带什么材料？", "在哪里办？"): it asks about the last answer."""
    return bool(normalise(text)) and not key_terms(text)


def shares_key_entity(query: str, entry: Entry, keys: list[str] | None = None) -> bool:
    """Whether `entry` is about something the question names: one of its key entities appears in the
    entry's question or paraphrases (after the synonym map). A question naming nothing shares with all."""
    keys = key_terms(query) if keys is None else keys
    if not keys:
        return True
    said = "|".join(normalise(p) for p in (entry.question, *entry.paraphrases))
    return any(k in said for k in keys)


def _tokens(tokens: list[str]) -> list[str]:
    """The analyzer of already tokenised texts (each text goes through `terms` once)."""
    return tokens


@dataclass(frozen=True)
class Hit:
    """An entry, its BM25 score, and the share of the query's information it covers (0..1)."""

    entry: Entry
    score: float
    coverage: float
    fit: float = 0.0  # share of the closest phrasing's information the query holds (0..1)
    cosine: float = 0.0  # cosine of the question and the entry's character centroid (0..1)
    confidence: float = 0.0  # how sure the ranking is that this is the entry (set on the best hit by decide())


@dataclass(frozen=True)
class Decision:
    """What to do with a question: `answer`, `clarify` (ask if it is this entry) or `none`."""

    action: str
    hit: Hit | None
    runner_up: Hit | None = None


class KbIndex:
    """An immutable index over the entries valid on a day."""

    def __init__(self, entries: Sequence[Entry], day: date | None = None) -> None:
        day = day or date.today()
        self.entries = [e for e in entries if e.valid_on(day)]
        self._position = {e.key: i for i, e in enumerate(self.entries)}
        self._vec = CountVectorizer(analyzer=_tokens)
        if not self.entries:
            return
        self._fit()

    def _fit(self) -> None:
        """BM25 weights of the entries' phrasings (together, one by one, per topic) and of their answers."""
        phrasings = [[e.question, *e.paraphrases] for e in self.entries]
        texts = [normalise(p) for ps in phrasings for p in ps]
        # every text tokenised once; phrasings counted separately so bigrams never join two of them
        counts = self._vec.fit_transform([_terms_of(t) for t in texts] + [terms(e.answer) for e in self.entries])
        counts = counts.astype(np.float64).tocsr()
        n, n_texts = len(self.entries), len(texts)
        per_text, told = counts[:n_texts], counts[n_texts:]
        owner = np.repeat(np.arange(n), [len(ps) for ps in phrasings])
        self._owner = owner
        first = np.zeros(n_texts)
        first[np.cumsum([0] + [len(ps) for ps in phrasings[:-1]])] = 1.0
        # an entry's phrasings added up, its own question counting QUESTION_WEIGHT times
        owners = sparse.csr_matrix((1.0 + (QUESTION_WEIGHT - 1.0) * first, (owner, np.arange(n_texts))), shape=(n, n_texts))
        asked = (owners @ per_text).tocsr()
        df = np.bincount((asked + told).indices, minlength=counts.shape[1])
        self._idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        asked_w = _bm25(asked, self._idf)
        self._asked = asked_w.tocsr()  # rows: which query terms an entry's phrasings hold (coverage)
        self._scored = (asked_w + ANSWER_WEIGHT * _bm25(told, self._idf)).tocsc()
        # best single phrasing: the paraphrase closest to the question, each phrasing its own document
        self._phrasings = _bm25(per_text, self._idf).tocsc()
        self._phrasing_rows = per_text
        self._first = np.concatenate([[0], np.cumsum([len(ps) for ps in phrasings])])
        # topic prior: all the phrasings of a topic as one document, so a question leaning to a topic
        # lifts that topic's entries a little
        topics = sorted({e.topic for e in self.entries})
        self._topic_of = np.array([topics.index(e.topic) for e in self.entries], dtype=np.int64)
        members = sparse.csr_matrix((np.ones(n), (self._topic_of, np.arange(n))), shape=(len(topics), n))
        self._topics = _bm25((members @ asked).tocsr(), self._idf).tocsc()
        self._fit_centroids(texts, owner, n)
        self._said = ["|".join(texts[a:b]) for a, b in zip(self._first[:-1], self._first[1:])]
        self._told = [normalise(e.answer) for e in self.entries]
        # each phrasing, as a question would be asked word for word, and the entries that hold it
        self._verbatim: dict[str, set[int]] = {}
        for text, i in zip(texts, owner):
            self._verbatim.setdefault(_TRAILING.sub("", text), set()).add(int(i))
        presence = asked.copy()
        presence.data[:] = 1.0
        self._core = self._core_terms(texts, (members @ presence).tocsr(), np.bincount(self._topic_of))

    def _core_terms(self, texts: list[str], topic_df: sparse.csr_matrix, topic_size: np.ndarray) -> list[tuple]:
        """Each entry's core terms with how much they tell it from its siblings (issue #18, near questions).

        A core term is a key term (`key_terms`) found in at least CORE_SHARE of the entry's phrasings: what
        the entry is about, such as "退休" in "退休后公积金怎么提取" or "电子" in "电子社保卡怎么申领". Its
        weight is the share of the other entries of the topic whose phrasings lack it: "公积金" tells no
        公积金 entry from another (0), "退休" tells the retirement one from all the others (about 1)."""
        vocab = self._vec.vocabulary_
        cores = []
        for i, (a, b) in enumerate(zip(self._first[:-1], self._first[1:])):
            own = texts[a:b]
            candidates = {t for p in own for t in _key_terms_of(p) if len(t) >= 2}
            siblings = int(topic_size[self._topic_of[i]]) - 1
            core = []
            for term in sorted(candidates):
                if sum(term in p for p in own) < CORE_SHARE * len(own):
                    continue
                col = vocab.get(term)
                if siblings <= 0:
                    weight = 0.0
                elif col is None:
                    weight = 1.0  # no jieba word of any phrasing: its characters are this entry's own way of saying it
                else:
                    others = max(0.0, topic_df[self._topic_of[i], col] - 1.0)
                    weight = max(0.0, 1.0 - others / siblings)
                core.append((term, weight))
            cores.append(tuple(core))
        return cores

    def _fit_centroids(self, texts: list[str], owner: np.ndarray, n: int) -> None:
        """Each entry's phrasings as one L2-normalised TF-IDF vector of character uni- and bigrams."""
        grams = CountVectorizer(analyzer=_char_grams)
        counts = grams.fit_transform(texts).astype(np.float64).tocsr()
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        self._char_vocab = grams.vocabulary_
        self._char_idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
        counts.data = 1.0 + np.log(counts.data)  # sublinear tf
        weighted = counts.multiply(self._char_idf[np.newaxis, :]).tocsr()
        weighted = _l2_rows(weighted)  # each phrasing counts the same, however long
        centroid = sparse.csr_matrix((np.ones(len(owner)), (owner, np.arange(len(owner)))), shape=(n, len(owner)))
        self._centroids = _l2_rows((centroid @ weighted).tocsr()).tocsc()
        self._char_unknown_idf = float(np.log(1 + len(texts)) + 1.0)

    def _cosines(self, text: str) -> np.ndarray:
        """Cosine of the (normalised) question with every entry's character centroid; a gram no entry holds
        still counts in the question's length, so a question mostly unknown to the index scores low."""
        grams = Counter(_char_grams(text))
        vocab = self._char_vocab
        cols = np.fromiter((vocab.get(g, -1) for g in grams), dtype=np.int64, count=len(grams))
        known = cols >= 0
        if not known.any():
            return np.zeros(len(self.entries))
        weights = 1.0 + np.log(np.fromiter(grams.values(), dtype=np.float64, count=len(grams)))
        weights *= np.where(known, self._char_idf[np.maximum(cols, 0)], self._char_unknown_idf)
        return _column_sums(self._centroids, cols[known], weights[known] / np.sqrt(np.dot(weights, weights)))

    def __len__(self) -> int:
        return len(self.entries)

    def _query(self, query: str) -> tuple[np.ndarray, float, int]:
        """Known term columns of the (normalised) query, their idf mass, and how many of its terms are unknown."""
        vocab = self._vec.vocabulary_
        found = _terms_of(query)
        cols = sorted({vocab[t] for t in found if t in vocab})
        unknown = sum(1 for t in found if t not in vocab)
        return np.asarray(cols, dtype=np.int64), float(self._idf[cols].sum()) if cols else 0.0, unknown

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The k best entries for `query`, best first."""
        return self._search(query, k)[0]

    def _search(self, query: str, k: int) -> tuple[list[Hit], dict]:
        """The k best hits and what the confidence model reads besides them (best BM25 and cosine entries)."""
        if not self.entries:
            return [], {}
        query = normalise(query)
        cols, total, unknown = self._query(query)
        if not len(cols):
            return [], {}
        scores = _column_sums(self._scored, cols)
        if PHRASING_WEIGHT:
            per_phrasing = _column_sums(self._phrasings, cols)
            hit = np.flatnonzero(per_phrasing)
            best = np.zeros(len(scores))
            np.maximum.at(best, self._owner[hit], per_phrasing[hit])
            scores += PHRASING_WEIGHT * best
        if TOPIC_WEIGHT:
            scores += TOPIC_WEIGHT * _column_sums(self._topics, cols)[self._topic_of]
        cosines = self._cosines(query)
        bm25_best, cos_best = int(np.argmax(scores)), int(np.argmax(cosines))
        top_bm25, top_cos = float(scores[bm25_best]), float(cosines[cos_best])
        bm25 = scores
        scores = scores / max(top_bm25, 1e-12) + CENTROID_WEIGHT * cosines / max(top_cos, 1e-12)
        depth = min(max(k, RERANK_DEPTH), len(scores))
        top = np.argpartition(-scores, depth - 1)[:depth]
        keys = _key_terms_of(query)
        if keys and KEY_WEIGHT:
            scores = scores.copy()
            scores[top] += KEY_WEIGHT * np.array([sum(1 for w in keys if w in self._said[i]) / len(keys) for i in top])
        top = top[np.argsort(-scores[top], kind="stable")][:k]
        # coverage: idf mass of the query terms found in the entry's questions; unknown terms count as missed
        in_query = np.zeros(len(self._idf), dtype=bool)
        in_query[cols] = True
        denom = total + UNKNOWN_WEIGHT * unknown * float(self._idf.max())
        hits = []
        for i in top:
            if scores[i] <= 0:
                continue
            row = self._asked.indices[self._asked.indptr[i] : self._asked.indptr[i + 1]]
            present = np.isin(cols, row, assume_unique=True)
            hits.append(Hit(self.entries[int(i)], float(scores[i]), float(self._idf[cols[present]].sum() / denom),
                            self._fit_of(int(i), in_query), float(cosines[i])))
        context = {"bm25_best": bm25_best, "cos_best": cos_best, "bm25": bm25, "cosines": cosines, "keys": keys,
                   "query": query}
        return hits, context

    def _fit_of(self, entry: int, in_query: np.ndarray) -> float:
        """How much of its closest phrasing the query holds: idf mass of shared terms / the phrasing's."""
        rows = self._phrasing_rows
        lo, hi = rows.indptr[self._first[entry]], rows.indptr[self._first[entry + 1]]
        if hi == lo:
            return 0.0
        terms_, idf = rows.indices[lo:hi], self._idf[rows.indices[lo:hi]]
        starts = rows.indptr[self._first[entry] : self._first[entry + 1]] - lo
        starts = np.unique(starts[starts < hi - lo])  # a phrasing without any known term adds nothing
        mass = np.add.reduceat(idf, starts)
        shared = np.add.reduceat(np.where(in_query[terms_], idf, 0.0), starts)
        return float(np.max(shared / np.maximum(mass, 1e-12)))

    def decide(self, query: str, exclude: frozenset[str] = frozenset()) -> Decision:
        """Answer only when the best entry is clearly the one; else clarify or say there is none.

        Neither an answer nor a clarification ever proposes an entry that shares no key entity with the
        question ("养狗要办什么证" is never offered the Taiwan travel permit). `exclude`: entries already
        given (after "不对", the next candidate).
        """
        found, context = self._search(query, k=2 + len(exclude))
        hits = [h for h in found if h.entry.key not in exclude][:2]
        if not hits:
            return Decision("none", None)
        best, second = hits[0], hits[1] if len(hits) > 1 else None
        keys = context["keys"]
        if not keys:  # naming nothing ("那要带什么材料？" with no answer before it): no entry is the one to offer
            return Decision("none", best, second)
        if not any(k in self._said[self._position[best.entry.key]] for k in keys):  # shares_key_entity
            return Decision("none", best, second)
        best = replace(best, confidence=kb_confidence.confidence(self.features(best, second, context, keys)))
        if self._verbatim.get(_TRAILING.sub("", context["query"])) == {self._position[best.entry.key]}:
            # the question is word for word one of this entry's phrasings (and no other entry's): the model,
            # fitted on questions never found in the entries (bench/kb_dev), does not see this case
            best = replace(best, confidence=max(best.confidence, kb_confidence.ANSWER_CONFIDENCE))
        if best.confidence >= kb_confidence.ANSWER_CONFIDENCE:
            return Decision("answer", best, second)
        if best.coverage >= CLARIFY_COVERAGE or best.confidence >= kb_confidence.CLARIFY_CONFIDENCE:
            return Decision("clarify", best, second)
        return Decision("none", best, second)

    def features(self, best: Hit, second: Hit | None, context: dict, keys: list[str]) -> dict[str, float]:
        """What the confidence model reads about the best hit (names in nlu/kb_confidence.FEATURES)."""
        i = self._position[best.entry.key]
        said = self._said[i]
        cosines, bm25 = context["cosines"], context["bm25"]
        others = np.delete(cosines, i)
        other_bm25 = np.delete(bm25, i)
        return {
            "coverage": best.coverage,
            "fit": best.fit,
            "cosine": best.cosine,
            "cosine_lead": best.cosine - (float(others.max()) if len(others) else 0.0),
            "margin": 1.0 - (second.score / best.score if second and best.score > 0 else 0.0),
            "bm25_margin": 1.0 - (float(other_bm25.max()) / bm25[i] if len(other_bm25) and bm25[i] > 0 else 0.0),
            "agree": float(context["bm25_best"] == i and context["cos_best"] == i),
            "key_share": sum(1 for k in keys if k in said) / len(keys) if keys else 0.0,
            "same_topic": float(second is not None and second.entry.topic == best.entry.topic),
            **self._qualifier_features(i, context.get("query", ""), keys),
        }

    def _term_idf(self, term: str) -> float:
        """BM25 idf of a word; a word the index does not hold as one gets its bigrams' mean (or the highest)."""
        vocab = self._vec.vocabulary_
        if term in vocab:
            return float(self._idf[vocab[term]])
        grams = [vocab[g] for g in ("#" + term[j : j + 2] for j in range(len(term) - 1)) if g in vocab]
        return float(self._idf[grams].mean()) if grams else float(self._idf.max())

    def _qualifier_features(self, i: int, query: str, keys: list[str]) -> dict[str, float]:
        """"Same topic, another qualifier" (issue #18): what the question names that the entry neither asks nor
        tells ("社保卡的金融功能怎么开通" against the electronic card's entry: "金融", "功能"), and what the entry
        is about that the question does not name ("公积金怎么提取" against "退休后公积金怎么提取": "退休").

        key_unanswered: idf share of the question's key terms (story words aside) missing from the entry's
        phrasings and from its answer; core_missing: share of the entry's core terms, weighted by how they
        tell it from its siblings, the question lacks."""
        said, told = self._said[i], self._told[i]
        keys = [k for k in keys if not _narrative(k)]
        key_unanswered = 0.0
        if keys:
            idf = np.array([self._term_idf(k) for k in keys])
            unanswered = np.array([k not in said and k not in told for k in keys])
            key_unanswered = float(idf[unanswered].sum() / max(float(idf.sum()), 1e-12))
        core = self._core[i]
        total = sum(w for _, w in core)
        lacked = sum(w for t, w in core if t not in query)
        return {"key_unanswered": key_unanswered, "core_missing": lacked / total if total > 0 else 0.0}

    def decide_follow_up(self, query: str, about: Entry) -> Decision:
        """A follow-up to the answer of `about` ("那要带什么材料？"): the entry of the same topic that holds
        the follow-up's words, ranked with `about`'s question as context; `about` itself when no other
        entry of its topic speaks of them."""
        speaks = {h.entry.key for h in self.search(query, k=len(self.entries))
                  if h.entry.topic == about.topic and h.coverage > 0}
        ranked = [h for h in self.search(f"{about.question} {query}", k=len(self.entries)) if h.entry.topic == about.topic]
        for i, hit in enumerate(ranked):
            if hit.entry.key in speaks and hit.entry.key != about.key:
                return Decision("answer", hit, ranked[i + 1] if i + 1 < len(ranked) else None)
        own = next((h for h in ranked if h.entry.key == about.key), None)
        if own is None:
            entry = next((e for e in self.entries if e.key == about.key), None)
            own = Hit(entry, 0.0, 0.0) if entry else None
        return Decision("answer", own) if own else Decision("none", None)


def _bm25(tf: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """BM25 term weights of a document-term count matrix."""
    lengths = np.asarray(tf.sum(axis=1)).ravel()
    norm = K1 * (1 - B + B * lengths / max(lengths.mean(), 1e-9))
    coo = tf.tocoo()
    weights = coo.data * (K1 + 1) / (coo.data + norm[coo.row]) * idf[coo.col]
    return sparse.csr_matrix((weights, (coo.row, coo.col)), shape=tf.shape)


def _column_sums(matrix: sparse.csc_matrix, cols: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Row sums of the given columns of a CSC matrix (each column times its weight, if given), without
    building the sliced matrix."""
    starts, ends = matrix.indptr[cols], matrix.indptr[cols + 1]
    lengths = ends - starts
    # positions starts[j]..ends[j]-1 of every column j, in one vector
    picked = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
    data = matrix.data[picked]
    if weights is not None:
        data = data * np.repeat(weights, lengths)
    return np.bincount(matrix.indices[picked], weights=data, minlength=matrix.shape[0])


def _char_grams(text: str) -> list[str]:
    """Character unigrams and bigrams of a normalised text."""
    return list(text) + [text[i : i + 2] for i in range(len(text) - 1)]


def _l2_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to unit length (empty rows stay empty)."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ matrix
