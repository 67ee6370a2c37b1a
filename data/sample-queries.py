#!/usr/bin/env python3
"""Writes data/sample-queries.tsv: about 2,000 made-up search queries with counts, for `make run`
and the demo until a sample log is aggregated. Templates and word lists below are written for
this project (no real log data); counts follow a Zipf-like curve with deliberate ties and a few
spellings that share one key (Café/cafe, München/MÜNCHEN). Deterministic: same file each run.

usage: data/sample-queries.py > data/sample-queries.tsv
"""
import random

rng = random.Random(20261122)

cities = ["new york", "london", "paris", "berlin", "München", "Zürich", "北京", "tokyo",
          "san francisco", "chicago", "boston", "seattle", "madrid", "rome", "São Paulo",
          "Kraków", "montréal", "amsterdam", "vienna", "prague", "dublin", "oslo", "Malmö",
          "lisbon", "athens", "istanbul", "cairo", "sydney", "toronto", "vancouver"]
topics = ["weather", "hotels", "restaurants", "flights to", "things to do in", "map of",
          "population of", "time in", "cheap flights to", "museums in", "train to"]
brands = ["google", "youtube", "facebook", "amazon", "ebay", "wikipedia", "netflix", "weather",
          "gmail", "yahoo mail", "craigslist", "espn", "cnn", "bbc news", "instagram", "reddit",
          "twitter", "linkedin", "spotify", "paypal", "walmart", "target", "ikea", "zillow"]
howto = ["how to tie a tie", "how to boil an egg", "how to make pancakes", "how to lose weight",
         "how to screenshot on mac", "how to draw a cat", "how to cook rice", "how to knit",
         "how to change a tire", "how to write a cover letter", "how to make bread",
         "how to solve a rubik's cube", "how to meditate", "how to learn python",
         "how to clean an oven", "how to plant tomatoes", "how to fix a leaky faucet"]
foods = ["pizza", "sushi", "tacos", "ramen", "pho", "curry", "crêpes", "croissant", "bagels",
         "dumplings", "pad thai", "lasagna", "falafel", "paella", "brezel", "crème brûlée",
         "Café au lait", "naïve art", "smörgåsbord", "jalapeño poppers"]
food_suffix = ["recipe", "near me", "delivery", "calories", "history"]
things = ["iphone", "ipad", "macbook", "galaxy", "pixel", "kindle", "playstation", "xbox",
          "nintendo switch", "airpods", "apple watch", "fitbit", "gopro", "roomba"]
thing_suffix = ["price", "review", "case", "charger", "release date", "deals", "manual"]
people = ["taylor swift", "barack obama", "albert einstein", "marie curie", "frida kahlo",
          "leonardo da vinci", "serena williams", "lionel messi", "Antonín Dvořák",
          "Gabriel García Márquez", "Björk", "Søren Kierkegaard", "beyoncé"]
people_suffix = ["", "age", "songs", "biography", "quotes", "net worth"]
misc = ["Straße", "strasse map", "Straßenbahn fahrplan", "北京 天气", "上海", "東京 タワー",
        "café near me", "Café near me", "cafe near me", "CAFÉ NEAR ME", "münchen hbf",
        "MÜNCHEN HBF", "muenchen hbf", "naïve bayes", "naive bayes classifier", "résumé template",
        "resume template", "Ｆｕｌｌ width text", "ﬁnance news", "pokémon", "Pokémon go",
        "déjà vu meaning", "el niño", "Jalapeño", "crème fraîche substitute"]

queries = set()
for c in cities:
    queries.add(c)
    for t in topics:
        queries.add(f"{t} {c}" if t.endswith(("to", "in", "of")) else f"{c} {t}")
for b in brands:
    queries.update([b, f"{b} login", f"{b} app", f"{b} customer service"])
queries.update(howto)
for f in foods:
    queries.add(f)
    queries.update(f"{f} {s}" for s in food_suffix)
for t in things:
    queries.add(t)
    for n in ("", " 2", " pro", " mini"):
        queries.update(f"{t}{n} {s}" for s in thing_suffix)
for p in people:
    queries.update(f"{p} {s}".strip() for s in people_suffix)
queries.update(misc)
for a in ["best", "cheap", "used", "free"]:
    for b in ["laptop", "car", "phone", "movies", "games", "books", "tv", "camera", "bike"]:
        queries.update([f"{a} {b}", f"{a} {b}s 2026", f"{a} {b} deals"])

concepts = ["machine learning", "inflation", "photosynthesis", "blockchain", "a roth ira",
            "the stock market", "dna", "gravity", "democracy", "climate change", "a mortgage",
            "quantum computing", "a vpn", "the cloud", "an api", "a recession", "umami",
            "a haiku", "the speed of light", "a black hole", "osmosis", "a sonnet", "mindfulness"]
for c in concepts:
    queries.update([f"what is {c}", f"{c} explained", f"{c} for beginners", f"{c} definition"])
teams = ["yankees", "red sox", "lakers", "celtics", "warriors", "real madrid", "barcelona",
         "bayern münchen", "manchester united", "arsenal", "liverpool", "juventus", "packers",
         "cowboys", "patriots", "chiefs"]
for t in teams:
    queries.update([t, f"{t} score", f"{t} schedule", f"{t} tickets", f"{t} roster", f"{t} news"])
words = ["serendipity", "ubiquitous", "ephemeral", "quixotic", "schadenfreude", "zeitgeist",
         "hygge", "wanderlust", "petrichor", "saudade", "ennui", "kitsch", "angst", "gestalt"]
for w in words:
    queries.update([w, f"{w} meaning", f"define {w}", f"{w} synonym"])
for a in ["python", "javascript", "rust", "java", "c", "go", "sql", "excel", "linux", "git"]:
    queries.update([f"{a} tutorial", f"{a} for loop", f"{a} string split", f"{a} interview questions",
                    f"learn {a}", f"{a} vs " + ("java" if a != "java" else "python")])
for c in cities[:20]:
    for t in ["zoo", "airport", "marathon", "university", "news", "apartments for rent"]:
        queries.add(f"{c} {t}")

services = ["pharmacy", "gas station", "dentist", "plumber", "car wash", "gym", "vet",
            "post office", "dry cleaner", "barber", "bakery", "library", "hardware store",
            "urgent care", "laundromat", "bank", "florist", "tire shop", "yoga studio", "bäckerei"]
for v in services:
    queries.update([f"{v} near me", f"{v} open now", f"24 hour {v}", f"{v} hours", f"best {v}",
                    f"{v} prices", f"{v} reviews"])
for c in cities[20:]:
    for t in ["zoo", "airport", "university", "news"]:
        queries.add(f"{c} {t}")

# Shorter queries tend to be more popular: rank by a random draw stretched by the word count.
ordered = sorted(queries)
ordered.sort(key=lambda q: rng.random() * (1 + 0.8 * len(q.split())))
head = ["google", "youtube", "facebook", "amazon", "ebay", "weather", "café near me",
        "münchen hbf"]
ordered = head + [q for q in ordered if q not in head]
for rank, q in enumerate(ordered, 1):
    count = max(1, int(50000 / rank ** 0.9))
    if rank % 17 == 0:
        count = max(1, int(50000 / (rank - 1) ** 0.9))  # ties with its neighbour
    print(f"{q}\t{count}")
