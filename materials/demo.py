"""The demo workshop's materials, suppliers and deliveries (manage.py seed_demo).

Deliveries carry fixed idempotency keys, so seeding again adds nothing.
"""

from datetime import timedelta
from decimal import Decimal as D

from materials import services
from materials.models import Category, Material, Supplier
from stock.engine import posting_with_key
from stock.models import Item, Location, workshop_today

SUPPLIERS = [
    ("Wick & Wax Supply Co.", "Hannah Price", "orders@wickandwax.example", "+44 161 555 0101"),
    ("Botanica Oils", "Ravi Mehta", "trade@botanica-oils.example", "+44 117 555 0144"),
    ("Jar & Box Packaging", "Leo Brandt", "sales@jarandbox.example", "+44 20 5550 0199"),
]

# sku, name, category, unit, lot-tracked, shelf life, reorder point, preferred supplier (index)
MATERIALS = [
    ("WAX-SOY464", "Soy wax 464", "Raw material", "g", False, None, "10000", 0),
    ("WAX-COCO83", "Coconut apricot wax", "Raw material", "g", False, None, "2000", 0),
    ("WAX-BEES", "Beeswax pellets", "Raw material", "g", False, 730, "500", 0),
    ("OIL-COCO", "Coconut oil 76", "Raw material", "g", True, 540, "3000", 1),
    ("OIL-OLIVE", "Olive oil pomace", "Raw material", "g", True, 365, "4000", 1),
    ("OIL-CASTOR", "Castor oil", "Raw material", "g", True, 730, "250", 1),
    ("OIL-SHEA", "Shea butter", "Raw material", "g", True, 540, "1000", 1),
    ("LYE-NAOH", "Sodium hydroxide", "Raw material", "g", True, 1095, "1000", 1),
    ("FO-LAV", "Lavender fragrance oil", "Fragrance and colour", "ml", True, 365, "250", 1),
    ("FO-CEDAR", "Cedarwood fragrance oil", "Fragrance and colour", "ml", True, 365, "250", 1),
    ("FO-FIG", "Fig & cassis fragrance oil", "Fragrance and colour", "ml", True, 365, "100", 1),
    ("EO-EUCA", "Eucalyptus essential oil", "Fragrance and colour", "ml", True, 730, "30", 1),
    ("COL-MICA-R", "Rose mica", "Fragrance and colour", "g", False, None, "50", 1),
    ("COL-CLAY", "French green clay", "Fragrance and colour", "g", False, None, "200", 1),
    ("WICK-CD12", "Cotton wick CD-12", "Consumable", "each", False, None, "200", 0),
    ("WICK-WOOD", "Wooden wick 13 mm", "Consumable", "each", False, None, "100", 0),
    ("STICKER-W", "Wick stickers", "Consumable", "each", False, None, "200", 0),
    ("JAR-AMB200", "Amber jar 200 ml", "Packaging", "each", False, None, "48", 2),
    ("JAR-TIN100", "Tin 100 ml", "Packaging", "each", False, None, "24", 2),
    ("LID-AMB", "Black lid for amber jar", "Packaging", "each", False, None, "48", 2),
    ("LABEL-JAR", "Jar label (printed)", "Packaging", "each", False, None, "100", 2),
    ("LABEL-SOAP", "Soap band label", "Packaging", "each", False, None, "100", 2),
    ("BOX-SOAP", "Kraft soap box", "Packaging", "each", False, None, "100", 2),
    ("BOX-GIFT", "Gift box, two candles", "Packaging", "each", False, None, "20", 2),
    ("TISSUE", "Tissue paper sheets", "Consumable", "each", False, None, "50", 2),
]

# key, supplier (index), days ago, shipping,
# lines: (sku, quantity, unit, price, lot code, expires in days)
DELIVERIES = [
    (
        "demo-delivery-1",
        0,
        40,
        "18.00",
        [
            ("WAX-SOY464", "20", "kg", "84.00", "", None),
            ("WAX-COCO83", "10", "lb", "58.00", "", None),
            ("WAX-BEES", "2", "kg", "31.00", "", 700),
            ("WICK-CD12", "500", "each", "30.00", "", None),
            ("WICK-WOOD", "200", "each", "44.00", "", None),
            ("STICKER-W", "1000", "each", "12.00", "", None),
        ],
    ),
    (
        "demo-delivery-2",
        1,
        30,
        "12.50",
        [
            ("OIL-COCO", "5", "kg", "30.50", "CO-2610-A", 400),
            ("OIL-OLIVE", "4.6", "kg", "41.00", "OP-2609-B", 300),
            ("OIL-CASTOR", "1", "kg", "9.80", "CA-2607", 600),
            ("OIL-SHEA", "2", "kg", "24.00", "SH-2608", 420),
            ("LYE-NAOH", "2", "kg", "11.00", "NA-2605", 1000),
            ("FO-LAV", "500", "ml", "44.50", "LAV-2611", 300),
            ("FO-LAV", "120", "ml", "9.70", "LAV-2502", -20),
            ("FO-CEDAR", "250", "ml", "18.50", "CED-2609", 20),
            ("FO-FIG", "250", "ml", "21.00", "FIG-2610", 330),
            ("EO-EUCA", "100", "ml", "14.00", "EU-2606", 600),
            ("COL-MICA-R", "100", "g", "6.50", "", None),
            ("COL-CLAY", "500", "g", "7.20", "", None),
        ],
    ),
    (
        "demo-delivery-3",
        2,
        20,
        "15.00",
        [
            ("JAR-AMB200", "96", "each", "81.60", "", None),
            ("JAR-TIN100", "30", "each", "19.50", "", None),
            ("LID-AMB", "96", "each", "24.00", "", None),
            ("LABEL-JAR", "250", "each", "37.50", "", None),
            ("LABEL-SOAP", "250", "each", "22.50", "", None),
            ("BOX-SOAP", "200", "each", "46.00", "", None),
            ("BOX-GIFT", "12", "each", "18.00", "", None),
            ("TISSUE", "200", "each", "9.00", "", None),
        ],
    ),
]


def seed(*, user) -> None:
    today = workshop_today()
    categories = {}
    for name in {row[2] for row in MATERIALS}:
        categories[name], _ = Category.objects.get_or_create(name=name)
    suppliers = []
    for name, contact, email, phone in SUPPLIERS:
        supplier, _ = Supplier.objects.get_or_create(
            name=name, defaults={"contact": contact, "email": email, "phone": phone}
        )
        suppliers.append(supplier)
    materials = {}
    for sku, name, category, unit, tracked, shelf_life, reorder, supplier in MATERIALS:
        existing = Material.objects.filter(item__sku=sku).select_related("item").first()
        if existing is None and not Item.objects.filter(sku=sku).exists():
            existing = services.material_create(
                sku=sku,
                name=name,
                unit=unit,
                category=categories[category],
                lot_tracked=tracked,
                shelf_life_days=shelf_life,
                reorder_point=D(reorder),
                preferred_supplier=suppliers[supplier],
            )
        if existing is not None:
            materials[sku] = existing
    storage = Location.objects.get(name="Storage")
    for key, supplier, days_ago, shipping, lines in DELIVERIES:
        if posting_with_key(key) or not all(sku in materials for sku, *_ in lines):
            continue  # seeded before (on another day its dates would differ), or not ours
        services.receipt_create(
            supplier=suppliers[supplier],
            reference=f"INV-{2600 + days_ago}",
            received_on=today - timedelta(days=days_ago),
            shipping=D(shipping),
            lines=[
                services.ReceiptLineInput(
                    material=materials[sku],
                    quantity=D(qty),
                    unit=unit,
                    location=storage,
                    price=D(price),
                    lot_code=code,
                    expiry_date=today + timedelta(days=expires) if expires is not None else None,
                )
                for sku, qty, unit, price, code, expires in lines
            ],
            user=user,
            idempotency_key=key,
        )
