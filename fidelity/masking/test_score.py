"""The scorer's rules on a hand-made document (run by make test-masking): a span of the right
type overlapping a value finds it, one of another type does not, the secret detectors count as
one family, and the ratchet fails when a detector loses what it found."""

import unittest

from score import evaluate, measured_floors, ratchet

TEXT = "mail jane@example.com, card 4111 1111 1111 1111, key ghp_x, mask 255.255.255.0"
DOC = {"id": "d", "kind": "text", "text": TEXT, "decoys": [],
       "labels": [{"start": 5, "end": 21, "type": "email", "sub": "plain"},
                  {"start": 28, "end": 47, "type": "credit_card", "sub": "visa16/space"},
                  {"start": 53, "end": 58, "type": "github_token", "sub": "ghp"}]}
SPANS = [{"start": 5, "end": 21, "detector": "email"}, {"start": 30, "end": 40, "detector": "credit_card"},
         {"start": 53, "end": 58, "detector": "api_key"}, {"start": 65, "end": 78, "detector": "ipv4"}]


class Scoring(unittest.TestCase):
    def test_overlap_of_the_right_type_counts(self):
        tallies, misses, false_positives = evaluate([DOC], {"d": SPANS})
        self.assertEqual(tallies["email"].scores()[:2], (1.0, 1.0))
        self.assertEqual(tallies["credit_card"].found, 1, "a partial overlap finds the value")
        self.assertEqual(tallies["github_token"].found, 1, "another secret detector masks a secret")
        self.assertEqual(tallies["ipv4"].scores()[1], 0.0, "the netmask is a false positive")
        self.assertEqual([span["detector"] for _, span in false_positives["ipv4"]], ["ipv4"])
        self.assertFalse(misses)

    def test_a_span_of_another_type_does_not_count(self):
        tallies, misses, _ = evaluate([DOC], {"d": [{"start": 5, "end": 21, "detector": "phone"}]})
        self.assertEqual(tallies["email"].found, 0)
        self.assertEqual(tallies["phone"].correct, 0)
        self.assertEqual(len(misses["email"]), 1)

    def test_the_ratchet_fails_when_a_detector_loses_recall(self):
        floors = measured_floors(evaluate([DOC], {"d": SPANS})[0])
        self.assertEqual(ratchet(evaluate([DOC], {"d": SPANS})[0], floors)[1], 0)
        weaker = [span for span in SPANS if span["detector"] != "email"]
        passed, failed, lines = ratchet(evaluate([DOC], {"d": weaker})[0], floors)
        self.assertEqual(failed, 1)
        self.assertIn("FAIL email recall 0.0%", lines[0])


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=2).run(unittest.defaultTestLoader.loadTestsFromTestCase(Scoring))
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    raise SystemExit(1 if failed else 0)
