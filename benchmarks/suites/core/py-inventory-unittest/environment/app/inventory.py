"""A tiny stock-keeping model."""


class Inventory:
    def __init__(self):
        self.items = {}

    def add(self, sku, qty):
        if qty <= 0:
            raise ValueError("quantity must be positive")
        self.items[sku] = self.items.get(sku, 0) + qty

    def remove(self, sku, qty):
        """Take qty units of sku out of stock; an item whose stock reaches 0 is dropped."""
        if qty <= 0:
            raise ValueError("quantity must be positive")
        if self.items.get(sku, 0) <= qty:
            raise ValueError(f"not enough {sku} in stock")
        self.items[sku] -= qty
        if self.items[sku] == 0:
            del self.items[sku]

    def quantity(self, sku):
        return self.items.get(sku, 0)

    def total_value(self, prices):
        """Sum of quantity * price over all items; prices maps sku -> unit price."""
        return round(sum(qty * prices[sku] for sku, qty in self.items.items()), 2)

    def low_stock(self, threshold):
        """SKUs whose quantity is strictly below threshold, sorted by name."""
        return sorted(sku for sku, qty in self.items.items() if qty <= threshold)
