import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from inventory import Inventory  # noqa: E402


class InventoryTest(unittest.TestCase):
    def setUp(self):
        self.inv = Inventory()
        self.inv.add("bolt", 10)
        self.inv.add("nut", 4)
        self.inv.add("washer", 5)

    def test_add_accumulates(self):
        self.inv.add("bolt", 5)
        self.assertEqual(self.inv.quantity("bolt"), 15)

    def test_add_rejects_non_positive(self):
        with self.assertRaises(ValueError):
            self.inv.add("bolt", 0)

    def test_remove_partial(self):
        self.inv.remove("bolt", 3)
        self.assertEqual(self.inv.quantity("bolt"), 7)

    def test_remove_all_drops_item(self):
        self.inv.remove("nut", 4)
        self.assertEqual(self.inv.quantity("nut"), 0)
        self.assertNotIn("nut", self.inv.items)

    def test_remove_too_many(self):
        with self.assertRaises(ValueError):
            self.inv.remove("washer", 6)

    def test_total_value(self):
        prices = {"bolt": 0.25, "nut": 0.1, "washer": 0.05}
        self.assertEqual(self.inv.total_value(prices), 3.15)

    def test_low_stock_is_strict(self):
        self.assertEqual(self.inv.low_stock(5), ["nut"])
        self.assertEqual(self.inv.low_stock(11), ["bolt", "nut", "washer"])


if __name__ == "__main__":
    unittest.main()
