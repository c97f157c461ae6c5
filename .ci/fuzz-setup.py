"""Fills a fresh server with one shop holding data of every kind; prints super, admin and customer tokens."""
import json
import sys
import urllib.request

BASE = sys.argv[1]


def call(method, path, body=None, token=None, host=None):
    req = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if host:
        req.add_header("Host", host)
    with urllib.request.urlopen(req) as res:
        text = res.read()
        return json.loads(text) if text else None


host = "fuzz.localhost"
sup = call("POST", "/api/auth/login", {"email": "fuzz@localhost", "password": "fuzz-super-password"})["token"]
call("POST", "/api/super-admin/clients", {"name": "Fuzz", "subdomain": "fuzz", "admin_email": "admin@fuzz.test", "admin_password": "fuzz-admin-password"}, sup)
adm = call("POST", "/api/auth/login", {"email": "admin@fuzz.test", "password": "fuzz-admin-password"})["token"]
cat = call("POST", "/api/admin/categories", {"name": "Tea"}, adm)
prod = call("POST", "/api/admin/products", {"name": "Green tea", "price_cents": 450, "stock": 100000, "category_id": cat["id"]}, adm)
call("POST", "/api/admin/coupons", {"code": "FUZZ10", "kind": "percent", "value": 10}, adm)
cus = call("POST", "/api/shop/auth/register", {"name": "Fuzzy", "email": "fuzzy@fuzz.test", "password": "fuzz-customer-password"}, host=host)["token"]
addr = call("POST", "/api/shop/addresses", {"name": "F", "line1": "1 Fuzz St", "city": "Fuzz", "postal_code": "1", "country": "DE"}, cus)
call("POST", "/api/shop/cart/items", {"product_id": prod["id"], "quantity": 1}, cus)
call("POST", "/api/shop/checkout", {"address_id": addr["id"], "coupon_code": "FUZZ10"}, cus)
call("POST", "/api/shop/cart/items", {"product_id": prod["id"], "quantity": 2}, cus)
call("POST", f"/api/shop/products/{prod['id']}/reviews", {"rating": 5, "title": "Good"}, cus)
print(sup, adm, cus)
