"""textstats: a tiny text statistics library.

Words, sentences, syllables, the Flesch reading-ease score, and a Corpus that
counts words and word pairs over many documents.
"""

import math
import re
from collections import Counter

WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
SENTENCE_END = re.compile(r"[.!?]+(?:\s+|$)")
VOWEL_GROUP = re.compile(r"[aeiouy]+")
STOPWORDS = frozenset(
    "a an and are as at be by for from has have if in is it its of on or that the this "
    "to was were will with not no can may but which".split()
)


def words(text):
    """The words of `text`, lower-cased: letters with inner apostrophes."""
    return WORD.findall(text.lower())


def sentences(text):
    """The sentences of `text`, split after '.', '!' or '?'."""
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def syllables(word):
    """A heuristic syllable count: vowel groups, minus a silent final 'e'."""
    word = word.lower()
    count = len(VOWEL_GROUP.findall(word))
    if word.endswith("e") and not word.endswith(("le", "ee")) and count > 1:
        count -= 1
    return max(count, 1)


def flesch_reading_ease(text):
    """Flesch reading ease: about 100 for very easy text, 0 or less for very hard text."""
    found = words(text)
    if not found:
        raise ValueError("no words in text")
    sentence_count = max(len(sentences(text)), 1)
    syllable_count = sum(syllables(w) for w in found)
    return 206.835 - 1.015 * len(found) / sentence_count - 84.6 * syllable_count / len(found)


class Corpus:
    """Word and word-pair counts over a set of documents."""

    def __init__(self, documents=()):
        self.counts = Counter()
        self.pairs = Counter()
        self.documents = 0
        self.total = 0
        for document in documents:
            self.add(document)

    def add(self, text):
        found = words(text)
        self.counts.update(found)
        self.pairs.update(zip(found, found[1:]))
        self.documents += 1
        self.total += len(found)

    def __len__(self):
        return self.total

    @property
    def vocabulary(self):
        return len(self.counts)

    def frequency(self, word):
        """The share of all words that are `word` (0.0 for an empty corpus)."""
        return self.counts[word.lower()] / self.total if self.total else 0.0

    def top(self, n=10, skip_stopwords=True):
        """The `n` most common words as (word, count), most common first."""
        ranked = ((w, c) for w, c in self.counts.most_common()
                  if not (skip_stopwords and w in STOPWORDS))
        return [pair for pair, _ in zip(ranked, range(n))]

    def collocations(self, n=10, min_count=5):
        """Word pairs that occur together more often than chance (by PMI)."""

        def pmi(pair):
            (a, b), count = pair
            return math.log2(count * self.total / (self.counts[a] * self.counts[b]))

        candidates = [(pair, count) for pair, count in self.pairs.items()
                      if count >= min_count and not set(pair) & STOPWORDS]
        candidates.sort(key=lambda item: (-pmi(item), item[0]))
        return [pair for pair, _ in candidates[:n]]
