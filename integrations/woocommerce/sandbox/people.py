"""Static catalogue for generated data: people by country, products, taxes, payment methods.

Names are deliberately international (diacritics, Polish, Japanese, apostrophes) because the
console must survive PHP's \\uXXXX escaping and dedupe people whose email differs only in case.
"""

import unicodedata

# country: (weight, first names, last names, [(city, state, postcode)], streets, phone pattern)
LOCALES = {
    "US": (30, ["John", "Emily", "Michael", "Sarah", "David", "Jessica", "Chris", "Ashley"],
           ["Smith", "Johnson", "O'Connor", "Miller", "Davis", "García-López"],
           [("San Francisco", "CA", "94103"), ("Austin", "TX", "78701"), ("Brooklyn", "NY", "11201"),
            ("Portland", "OR", "97205"), ("Chicago", "IL", "60601")],
           ["Market St", "Main St", "Oak Ave", "5th Ave", "Elm St / Unit B"], "(555) 555-####"),
    "DE": (14, ["Zoë", "Jürgen", "Lena", "Maximilian", "Anna", "Jörg"],
           ["Müller", "Schröder", "Weiß", "Köhler", "Schmidt"],
           [("Berlin", "BE", "10115"), ("München", "BY", "80331"), ("Köln", "NW", "50667")],
           ["Hauptstraße", "Gartenweg", "Schloßallee"], "+49 30 #######"),
    "FR": (8, ["François", "Amélie", "Hélène", "Jérôme", "Chloé"],
           ["Dupont", "Lefèvre", "Girard", "Rousseau", "Bérénger"],
           [("Paris", "", "75001"), ("Lyon", "", "69001"), ("Nice", "", "06000")],
           ["rue de la Paix", "avenue des Champs-Élysées", "boulevard Saint-Michel"], "+33 1 ## ## ## ##"),
    "ES": (8, ["José", "María", "Álvaro", "Lucía", "Begoña"],
           ["Álvarez", "García", "Muñoz", "Pérez", "Núñez"],
           [("Madrid", "M", "28013"), ("Sevilla", "SE", "41001"), ("A Coruña", "C", "15001")],
           ["Calle Mayor", "Avenida de la Constitución", "Plaza España"], "+34 91 ### ## ##"),
    "BR": (10, ["João", "Ana", "Luís", "Beatriz", "Conceição"],
           ["Silva", "Araújo", "Gonçalves", "Magalhães"],
           [("Rio de Janeiro", "RJ", "20040-002"), ("São Paulo", "SP", "01310-100")],
           ["Av. Brasil", "Rua das Flores", "Av. Paulista"], "(21) 9####-####"),
    "PL": (8, ["Łukasz", "Małgorzata", "Paweł", "Zofia", "Grzegorz"],
           ["Żółć", "Wiśniewski", "Kowalski", "Dąbrowska", "Łęcki"],
           [("Kraków", "", "31-001"), ("Łódź", "", "90-001"), ("Gdańsk", "", "80-001")],
           ["ul. Długa", "ul. Świętokrzyska", "al. Jerozolimskie"], "+48 12 ### ## ##"),
    "JP": (7, ["美咲", "翔太", "陽菜", "蓮"], ["渡辺", "佐藤", "鈴木", "高橋"],
           [("渋谷区", "JP13", "150-0041"), ("大阪市北区", "JP27", "530-0001")],
           ["神南", "梅田"], "03-####-####"),
    "SE": (5, ["Søren", "Åsa", "Björn", "Märta"], ["Ødegård", "Lindström", "Åberg"],
           [("Stockholm", "", "111 22"), ("Göteborg", "", "411 03")],
           ["Drottninggatan", "Kungsgatan"], "+46 8 ### ## ##"),
    "GB": (10, ["Oliver", "Amelia", "Siobhán", "Rhys"], ["Smith", "Ó Briain", "Jones", "Taylor"],
           [("London", "", "SW1A 1AA"), ("Manchester", "", "M1 1AE"), ("Cardiff", "", "CF10 1EP")],
           ["High Street", "Station Road", "Church Lane"], "+44 20 #### ####"),
}

# The brief's reference people come first, so they are always present as registered customers.
FIXED_PEOPLE = [("Zoë", "Müller", "DE"), ("José", "Álvarez", "ES"), ("Łukasz", "Żółć", "PL"),
                ("美咲", "渡辺", "JP"), ("João", "Silva", "BR")]

ROMAJI = {"美咲": "misaki", "翔太": "shota", "陽菜": "hina", "蓮": "ren", "渡辺": "watanabe",
          "佐藤": "sato", "鈴木": "suzuki", "高橋": "takahashi"}
# Letters NFKD does not take apart.
_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "đ": "d"})
EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example"]

# (product_id, variation_id, name, sku, price in cents, item meta [(key, value)])
PRODUCTS = [
    (93, 0, "Woo Single #1", "", 300, []),
    (22, 23, "Ship Your Idea &ndash; Color: Black, Size: M Test", "Bar3", 1200,
     [("pa_color", "black"), ("size", "M Test")]),
    (87, 0, "Woo Album #2", "", 900, []),
    (140, 0, "Café Crème Mug", "MUG-CC-01", 1450, []),
    (141, 142, "Organic Tee / Black / M", "TEE-BLK-M", 2500, [("pa_size", "m"), ("pa_color", "black")]),
    (141, 143, "Organic Tee / White / L", "TEE-WHT-L", 2500, [("pa_size", "l"), ("pa_color", "white")]),
    (150, 0, "Bücherregal „Nordlicht“", "SHELF-NL", 18900, []),
    (151, 0, "Pour-over Kettle 1.2 L", "KTL-12", 5900, []),
    (152, 0, "Ceramic Dripper (V60)", "DRP-V60", 2200, []),
    (153, 0, "Coffee Beans – Ethiopia Yirgacheffe 250 g", "BEAN-ETH-250", 1650, []),
    (154, 0, "Coffee Beans – Colombia Huila 1 kg", "BEAN-COL-1K", 4200, []),
    (155, 0, "Gift Card €50", "GIFT-50", 5000, []),
    (156, 0, "Barista Workshop (online)", "WS-ONLINE", 7900, []),
    (157, 0, "Hand Grinder \"Comandante\" C40", "GRD-C40", 24900, []),
    (158, 0, "Paper Filters ×100", "FLT-100", 650, []),
    (159, 0, "Thermos 0,5 l — Edelstahl", "THR-05", 3450, []),
    (160, 0, "抹茶 Matcha Set", "MATCHA-SET", 3800, []),
    (161, 0, "Spare Gasket 2/pack", "GSK-2", 499, []),
]

# country -> (rate id, basis points, rate_code, label); absent = no tax.
TAXES = {
    "US": (75, 725, "US-{state}-STATE TAX", "State Tax"), "DE": (80, 1900, "DE-VAT-1", "MwSt."),
    "FR": (81, 2000, "FR-VAT-1", "TVA"), "ES": (82, 2100, "ES-IVA-1", "IVA"),
    "PL": (83, 2300, "PL-VAT-1", "VAT"), "SE": (84, 2500, "SE-MOMS-1", "Moms"),
    "GB": (85, 2000, "GB-VAT-1", "VAT"), "JP": (86, 1000, "JP-CT-1", "消費税"),
}

# gateway id -> (title, weight)
PAYMENT_METHODS = {
    "stripe": ("Credit Card (Stripe)", 45), "ppcp-gateway": ("PayPal", 25),
    "bacs": ("Direct Bank Transfer", 15), "cod": ("Cash on delivery", 10),
    "cheque": ("Check payments", 5),
}
OFFLINE_METHODS = ("bacs", "cheque")  # BACS/cheque process_payment(): on-hold until paid by hand

SHIPPING = [("Flat Rate", "flat_rate", 1000), ("Free shipping", "free_shipping", 0),
            ("Local pickup", "local_pickup", 0), ("DHL Express", "flat_rate", 1890)]

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "mozilla/5.0 (x11; ubuntu; linux x86_64; rv:52.0) gecko/20100101 firefox/52.0",
]
NOTES = ["", "", "", "", "Please leave at the door 🚪", "Bitte beim Nachbarn abgeben.",
         "Gift — no invoice in the parcel, please", "配達前に電話してください"]
REFUND_REASONS = ["", "Damaged in transit", "Customer changed their mind", "Item out of stock", "Duplicate order"]


def ascii_fold(text: str) -> str:
    """Latin letters without diacritics, for usernames and email local parts."""
    if text in ROMAJI:
        return ROMAJI[text]
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    folded = "".join(c for c in text if c.isascii() and (c.isalnum() or c in "-"))
    return folded.lower() or "user"


def fill(pattern: str, rng) -> str:
    """Replace each '#' with a digit."""
    return "".join(str(rng.randrange(10)) if c == "#" else c for c in pattern)
