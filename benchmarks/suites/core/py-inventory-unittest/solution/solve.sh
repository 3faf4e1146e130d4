#!/bin/bash
# Oracle: two comparison bugs (remove refuses to empty a line; low_stock is not strict).

sed -i 's/if self.items.get(sku, 0) <= qty:/if self.items.get(sku, 0) < qty:/' /app/inventory.py

sed -i 's/if qty <= threshold)/if qty < threshold)/' /app/inventory.py

# sim: prefers pytest -v /app/tests > /app/test_report.txt 2>&1
python3 -m unittest discover -s /app/tests -v > /app/test_report.txt 2>&1
