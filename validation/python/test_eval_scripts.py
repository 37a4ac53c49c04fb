#!/usr/bin/env python3
"""Tests for cosqa_layout.py and score_batch.py (standard library only):

    python3 -m unittest discover -s validation/python -p 'test_*.py'
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cosqa_layout import read_qrels  # noqa: E402
from score_batch import ranking, score_query  # noqa: E402


def run(script, *args):
    return subprocess.run([sys.executable, os.path.join(HERE, script), *args], check=True, capture_output=True,
                          text=True).stdout


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class ScoreQuery(unittest.TestCase):
    def test_graded_hand_computed(self):
        # ranking b, x, a against a:2, b:1: DCG = 1/log2(2) + 0 + 3/log2(4) = 2.5; IDCG = 3 + 1/log2(3)
        nd, rec, mrr = score_query(["b", "x", "a"], {"a": 2, "b": 1})
        self.assertAlmostEqual(nd, 2.5 / (3 + 1 / math.log2(3)), places=12)
        self.assertEqual((rec, mrr), (1.0, 1.0))

    def test_cutoffs(self):
        docs = [f"d{i}" for i in range(60)]
        self.assertEqual(score_query(docs, {"d10": 1}), (0.0, 1.0, 0.0))  # rank 11: out of @10, in @50
        self.assertEqual(score_query(docs, {"d50": 1}), (0.0, 0.0, 0.0))  # rank 51
        nd, rec, mrr = score_query(docs, {"d3": 1, "d55": 1})
        self.assertAlmostEqual(nd, (1 / math.log2(5)) / (1 + 1 / math.log2(3)), places=12)
        self.assertEqual((rec, mrr), (0.5, 0.25))

    def test_no_relevant(self):
        self.assertEqual(score_query(["a"], {}), (0.0, 0.0, 0.0))
        self.assertEqual(score_query(["a"], {"a": 0}), (0.0, 0.0, 0.0))

    def test_ranking_first_occurrence(self):
        res = [{"path": p} for p in ["b.py", "a.py", "b.py", "sub/c.py", "a.py", "d.rs"]]
        self.assertEqual(ranking(res), ["b", "a", "c", "d"])


class EndToEnd(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.data = os.path.join(self.tmp.name, "set")
        os.makedirs(d)
        write(os.path.join(d, "corpus.jsonl"), "".join(
            json.dumps({"doc_id": f"c{i}", "code": f"def f{i}():\n    return {i}"}) + "\n" for i in range(5)))
        write(os.path.join(d, "queries.jsonl"), "".join(
            json.dumps({"query_id": f"q{i}", "query": f"return the number {i}"}) + "\n" for i in range(4)))
        write(os.path.join(d, "qrels.tsv"), "query_id\tdoc_id\trelevance\n" + "".join(f"q{i}\tc{i}\t1\n" for i in range(4)))

    def tearDown(self):
        self.tmp.cleanup()

    def test_layout(self):
        out = os.path.join(self.tmp.name, "out")
        run("cosqa_layout.py", self.data, out, "--extra", '{"limit": 100}')
        self.assertEqual(sorted(os.listdir(os.path.join(out, "tree"))), [f"c{i}.py" for i in range(5)])
        with open(os.path.join(out, "tree", "c3.py")) as f:
            self.assertEqual(f.read(), "def f3():\n    return 3\n")
        with open(os.path.join(out, "queries.batch.jsonl")) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual(lines[0], {"id": "q0", "query": "return the number 0", "limit": 100})
        self.assertEqual(len(lines), 4)
        with self.assertRaises(subprocess.CalledProcessError):  # an existing tree needs --force
            run("cosqa_layout.py", self.data, out)
        run("cosqa_layout.py", self.data, out, "--force")

    def test_qrels_header_optional(self):
        p = os.path.join(self.tmp.name, "q.tsv")
        write(p, "q1 a 1\nq1 b 2\n")
        self.assertEqual(read_qrels(p), {"q1": {"a": 1, "b": 2}})
        self.assertEqual(read_qrels(self.data)["q2"], {"c2": 1})

    def test_score_batch(self):
        batch = os.path.join(self.tmp.name, "batch.out.jsonl")
        res = lambda *ids: [{"path": f"{i}.py", "score": 1.0} for i in ids]
        write(batch, "".join(json.dumps(x) + "\n" for x in [
            {"id": "q0", "results": res("c0", "c0", "c1"), "stats": {}},  # rank 1 (duplicates count once)
            {"id": "q1", "results": res("c0", "c0", "c0", "c1"), "stats": {}},  # rank 2, not 4
            {"id": "q2", "error": {"code": "bad_query", "message": "x"}},  # scores 0
            # q3 missing: scores 0
            {"id": "extra", "results": res("c4"), "stats": {}},  # not in qrels: ignored
        ]))
        got = json.loads(run("score_batch.py", batch, "--data", self.data, "--json"))
        self.assertAlmostEqual(got["ndcg@10"], (1 + 1 / math.log2(3)) / 4, places=12)
        self.assertAlmostEqual(got["mrr@10"], 1.5 / 4, places=12)
        self.assertEqual(got["recall@50"], 0.5)
        self.assertEqual((got["queries"], got["errors"], got["missing"], got["unjudged_lines"]), (4, 1, 1, 1))
        text = run("score_batch.py", batch, "--data", self.data)
        self.assertTrue(text.startswith("nDCG@10 0.4077  recall@50 0.5000  MRR@10 0.3750"), text)


if __name__ == "__main__":
    unittest.main()
