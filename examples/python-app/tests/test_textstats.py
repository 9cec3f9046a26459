import unittest

import textstats
from textstats import Corpus


class WordsTest(unittest.TestCase):
    def test_lower_cases_and_keeps_inner_apostrophes(self):
        self.assertEqual(textstats.words("Don't PANIC, it's 42!"), ["don't", "panic", "it's"])

    def test_sentences(self):
        text = "One sentence. Another one! A third?  And the end"
        self.assertEqual(textstats.sentences(text),
                         ["One sentence", "Another one", "A third", "And the end"])

    def test_syllables(self):
        for word, count in [("the", 1), ("python", 2), ("table", 2), ("readability", 5),
                            ("make", 1), ("tree", 1), ("rhythm", 1)]:
            with self.subTest(word=word):
                self.assertEqual(textstats.syllables(word), count)


class ReadingEaseTest(unittest.TestCase):
    def test_simple_text_is_easier_than_technical_text(self):
        simple = "The cat sat on the mat. It was a good cat."
        technical = ("Asynchronous serialization necessitates comprehensive "
                     "synchronization of intermediate representations.")
        self.assertGreater(textstats.flesch_reading_ease(simple),
                           textstats.flesch_reading_ease(technical))

    def test_empty_text_is_an_error(self):
        with self.assertRaises(ValueError):
            textstats.flesch_reading_ease("... !!!")


class CorpusTest(unittest.TestCase):
    def setUp(self):
        self.corpus = Corpus(["Open the file and read the file.",
                              "Close the file when done.",
                              "Read the manual before you open the box."])

    def test_counts(self):
        self.assertEqual(self.corpus.documents, 3)
        self.assertEqual(len(self.corpus), 20)
        self.assertEqual(self.corpus.counts["file"], 3)
        self.assertAlmostEqual(self.corpus.frequency("FILE"), 3 / 20)

    def test_top_skips_stopwords(self):
        self.assertEqual(self.corpus.top(2), [("file", 3), ("open", 2)])
        self.assertEqual(self.corpus.top(1, skip_stopwords=False), [("the", 5)])

    def test_collocations_prefer_pairs_that_stick_together(self):
        corpus = Corpus(["new york is big"] * 5 + ["new ideas", "old york", "is new"])
        self.assertEqual(corpus.collocations(1, min_count=3), [("new", "york")])

    def test_empty_corpus(self):
        self.assertEqual(Corpus().frequency("x"), 0.0)
        self.assertEqual(Corpus().top(), [])


if __name__ == "__main__":
    unittest.main()
