"""Tests on the shared dataset (preloaded when run through Olympus)."""

import unittest

import doccorpus


class DocCorpusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.corpus = doccorpus.get()

    def test_it_is_big(self):
        self.assertGreater(self.corpus.documents, 1000)
        self.assertGreater(len(self.corpus), 50_000)

    def test_documentation_words_are_common(self):
        top = [word for word, _ in self.corpus.top(50)]
        self.assertIn("return", " ".join(top))

    def test_collocations_occur_often_enough(self):
        for a, b in self.corpus.collocations(20, min_count=5):
            self.assertGreaterEqual(self.corpus.pairs[a, b], 5)

    def test_docstrings_of_a_module(self):
        docs = doccorpus.docstrings(doccorpus.__file__)
        self.assertTrue(docs[0].startswith("doccorpus:"))


if __name__ == "__main__":
    unittest.main()
