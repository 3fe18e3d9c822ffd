//! How simulated customers behave: who they are, where they come from, and what one visit
//! of theirs looks like. Pure functions of a random source, so a seed replays the same story.

use std::time::Duration;

use rand::{seq::SliceRandom, Rng};
use serde_json::{json, Map, Value};

/// A marketing channel a visitor arrives through, and how well it converts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Channel {
    pub name: &'static str,
    /// `(utm_source, utm_medium, utm_campaign)` for tagged traffic.
    pub campaign: Option<(&'static str, &'static str, &'static str)>,
    pub referrer: Option<&'static str>,
    /// Share of new visitors arriving this way.
    pub weight: f64,
    /// Multiplies the chance of every step towards a purchase.
    pub intent: f64,
}

pub const CHANNELS: &[Channel] = &[
    Channel {
        name: "paid search",
        campaign: Some(("google", "cpc", "winter_sale")),
        referrer: Some("https://www.google.com/"),
        weight: 0.24,
        intent: 1.1,
    },
    Channel {
        name: "paid social",
        campaign: Some(("facebook", "paid_social", "retarget_q4")),
        referrer: Some("https://l.facebook.com/"),
        weight: 0.15,
        intent: 0.6,
    },
    Channel {
        name: "email",
        campaign: Some(("newsletter", "email", "weekly_digest")),
        referrer: None,
        weight: 0.10,
        intent: 1.6,
    },
    Channel {
        name: "organic search",
        campaign: None,
        referrer: Some("https://www.google.com/"),
        weight: 0.20,
        intent: 1.0,
    },
    Channel {
        name: "referral",
        campaign: None,
        referrer: Some("https://www.outdoorgearlab.com/topics/shoes-and-boots"),
        weight: 0.08,
        intent: 0.8,
    },
    Channel { name: "direct", campaign: None, referrer: None, weight: 0.23, intent: 1.2 },
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Product {
    pub id: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    pub price: f64,
}

pub const CATALOG: &[Product] = &[
    Product { id: "p-101", name: "Trail Runner 2", category: "shoes", price: 129.0 },
    Product { id: "p-102", name: "City Sneaker", category: "shoes", price: 89.0 },
    Product { id: "p-103", name: "Waterproof Hiker", category: "shoes", price: 159.0 },
    Product { id: "p-201", name: "Merino Base Layer", category: "apparel", price: 79.0 },
    Product { id: "p-202", name: "Rain Shell", category: "apparel", price: 189.0 },
    Product { id: "p-203", name: "Fleece Mid Layer", category: "apparel", price: 99.0 },
    Product { id: "p-301", name: "Daypack 24L", category: "bags", price: 119.0 },
    Product { id: "p-302", name: "Travel Duffel", category: "bags", price: 149.0 },
    Product { id: "p-401", name: "Insulated Bottle", category: "accessories", price: 35.0 },
    Product { id: "p-402", name: "Headlamp", category: "accessories", price: 45.0 },
    Product { id: "p-403", name: "Trekking Poles", category: "accessories", price: 89.0 },
    Product { id: "p-404", name: "Wool Socks (3 pack)", category: "accessories", price: 29.0 },
];

const DEVICES: &[(&str, &str, f64)] = &[
    ("desktop", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36", 0.48),
    ("mobile", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", 0.44),
    ("tablet", "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", 0.08),
];

const SEARCHES: &[&str] = &["rain jacket", "running shoes", "backpack", "merino", "gift ideas", "headlamp"];
const LOCALES: &[(&str, &str)] = &[
    ("en-US", "America/New_York"),
    ("en-GB", "Europe/London"),
    ("de-DE", "Europe/Berlin"),
    ("fr-FR", "Europe/Paris"),
    ("en-US", "America/Los_Angeles"),
];
const PAYMENT_FAILURES: &[&str] = &["card_declined", "insufficient_funds", "3ds_timeout", "expired_card"];

/// One simulated person across visits.
#[derive(Debug, Clone)]
pub struct Customer {
    pub anonymous_id: String,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub channel: Channel,
    pub device: usize,
    pub locale: usize,
    pub ip: String,
    pub visits: u32,
    pub orders: u32,
    /// Products in the cart when the last visit ended (abandoned cart).
    pub cart: Vec<Product>,
    /// The last order, for post-purchase events.
    pub last_order: Option<String>,
}

impl Customer {
    pub fn new(rng: &mut impl Rng) -> Self {
        let channel = *CHANNELS.choose_weighted(rng, |c| c.weight).unwrap_or(&CHANNELS[0]);
        let device = DEVICES
            .iter()
            .enumerate()
            .collect::<Vec<_>>()
            .choose_weighted(rng, |(_, d)| d.2)
            .map(|(i, _)| *i)
            .unwrap_or(0);
        Customer {
            anonymous_id: format!("anon-{:016x}", rng.gen::<u64>()),
            user_id: None,
            email: None,
            channel,
            device,
            locale: rng.gen_range(0..LOCALES.len()),
            ip: format!("10.{}.{}.{}", rng.gen_range(0..=255), rng.gen_range(0..=255), rng.gen_range(1..=254)),
            visits: 0,
            orders: 0,
            cart: Vec::new(),
            last_order: None,
        }
    }
}

/// One message of a visit: when it happens (from the visit's start) and its Segment body,
/// without `timestamp` and `messageId`, which the sender sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at: Duration,
    pub message: Value,
}

/// What one visit produced, and whether (and how much later, in "days") the customer returns.
#[derive(Debug, Clone)]
pub struct Visit {
    pub steps: Vec<Step>,
    /// `Some(days)` if the customer comes back, `None` if they go inactive.
    pub returns_after_days: Option<f64>,
}

struct VisitBuilder<'a, R: Rng> {
    rng: &'a mut R,
    customer: &'a mut Customer,
    clock: Duration,
    steps: Vec<Step>,
    page_path: &'static str,
}

impl<R: Rng> VisitBuilder<'_, R> {
    /// Time passes as the visitor reads: 4 to ~60 seconds, mostly short.
    fn dwell(&mut self) {
        let seconds = 4.0 + self.rng.gen::<f64>().powi(2) * 55.0;
        self.clock += Duration::from_secs_f64(seconds);
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    fn context(&self, first_page: bool) -> Value {
        let c = &self.customer;
        let (device, user_agent, _) = DEVICES[c.device];
        let (locale, timezone) = LOCALES[c.locale];
        let mut context = json!({
            "ip": c.ip,
            "userAgent": user_agent,
            "locale": locale,
            "timezone": timezone,
            "device": { "type": device },
            "library": { "name": "wayline-demo", "version": env!("CARGO_PKG_VERSION") },
            "page": { "path": self.page_path, "url": format!("https://shop.example.com{}", self.page_path) },
        });
        // Attribution belongs to the first visit's landing; later visits are direct.
        if first_page && c.visits == 1 {
            if let Some((source, medium, name)) = c.channel.campaign {
                context["campaign"] = json!({ "source": source, "medium": medium, "name": name });
            }
            if let Some(referrer) = c.channel.referrer {
                context["page"]["referrer"] = json!(referrer);
            }
        }
        context
    }

    fn identity(&self, message: &mut Map<String, Value>) {
        message.insert("anonymousId".into(), json!(self.customer.anonymous_id));
        if let Some(user) = &self.customer.user_id {
            message.insert("userId".into(), json!(user));
        }
    }

    fn push(&mut self, mut message: Map<String, Value>, first_page: bool) {
        self.identity(&mut message);
        message.insert("context".into(), self.context(first_page));
        self.steps.push(Step { at: self.clock, message: Value::Object(message) });
    }

    fn page(&mut self, name: &str, path: &'static str, extra: Value) {
        let first = self.steps.is_empty();
        self.page_path = path;
        let mut properties = json!({ "path": path, "url": format!("https://shop.example.com{path}"), "title": format!("{name} · Example Outfitters") });
        if let (Value::Object(p), Value::Object(e)) = (&mut properties, extra) {
            p.extend(e);
        }
        let mut message = Map::new();
        message.insert("type".into(), json!("page"));
        message.insert("name".into(), json!(name));
        message.insert("properties".into(), properties);
        self.push(message, first);
    }

    fn track(&mut self, event: &str, properties: Value) {
        let mut message = Map::new();
        message.insert("type".into(), json!("track"));
        message.insert("event".into(), json!(event));
        message.insert("properties".into(), properties);
        self.push(message, false);
    }

    fn identify(&mut self) {
        if self.customer.user_id.is_none() {
            let number: u32 = self.rng.gen_range(10_000..99_999);
            self.customer.user_id = Some(format!("user-{number}-{}", &self.customer.anonymous_id[5..9]));
            self.customer.email = Some(format!("customer{number}@example.com"));
        }
        let mut message = Map::new();
        message.insert("type".into(), json!("identify"));
        message.insert(
            "traits".into(),
            json!({ "email": self.customer.email, "first_channel": self.customer.channel.name, "orders": self.customer.orders }),
        );
        self.push(message, false);
    }
}

fn product_json(p: &Product) -> Value {
    json!({ "product_id": p.id, "sku": p.id.to_uppercase(), "name": p.name, "category": p.category, "price": p.price, "currency": "USD" })
}

/// Plans the customer's next visit and updates what they carry over (identity, cart, orders).
pub fn plan_visit(rng: &mut impl Rng, customer: &mut Customer) -> Visit {
    customer.visits += 1;
    let intent = customer.channel.intent * if customer.visits > 1 { 1.3 } else { 1.0 };
    let mut v = VisitBuilder { rng, customer, clock: Duration::ZERO, steps: Vec::new(), page_path: "/" };
    let returning = v.customer.visits > 1;

    // Discovery: the landing page.
    let landing = *CATALOG.choose(v.rng).unwrap_or(&CATALOG[0]);
    if v.customer.channel.campaign.is_some() && !returning && v.chance(0.6) {
        v.page("Product", "/products/landing", product_json(&landing));
    } else {
        v.page("Home", "/", json!({}));
    }
    if returning && v.customer.user_id.is_some() {
        v.dwell();
        let days = v.customer.visits;
        v.track("logged_in", json!({ "method": "password", "visit": days }));
    }

    // Post-purchase: what happens after the last order.
    if let Some(order) = v.customer.last_order.take() {
        v.dwell();
        v.track("order_shipped", json!({ "order_id": order, "carrier": "UPS" }));
        if v.chance(0.25) {
            v.dwell();
            let rating = v.rng.gen_range(3..=5);
            v.track("review_submitted", json!({ "order_id": order, "rating": rating }));
        }
        if v.chance(0.06) {
            v.dwell();
            v.track("order_returned", json!({ "order_id": order, "reason": "wrong size" }));
        }
        if v.chance(0.05) {
            v.dwell();
            v.track("support_ticket_created", json!({ "topic": "delivery", "order_id": order, "priority": "normal" }));
        }
    }

    // Engagement: browsing, search, sign-up.
    if v.chance(0.55) {
        v.dwell();
        let category = CATALOG.choose(v.rng).map(|p| p.category).unwrap_or("shoes");
        v.page("Category", "/category", json!({ "category": category }));
        v.track("product_list_viewed", json!({ "category": category }));
    }
    if v.chance(0.3) {
        v.dwell();
        let query = *SEARCHES.choose(v.rng).unwrap_or(&"shoes");
        v.track("products_searched", json!({ "query": query }));
    }
    let views = if v.chance(0.2 / intent.max(0.1)) { 0 } else { v.rng.gen_range(1..=4) };
    let mut viewed = Vec::new();
    for _ in 0..views {
        v.dwell();
        let product = *CATALOG.choose(v.rng).unwrap_or(&CATALOG[0]);
        v.page("Product", "/products/detail", product_json(&product));
        v.track("product_viewed", product_json(&product));
        viewed.push(product);
    }
    if v.chance(0.06 * intent) {
        v.dwell();
        v.track("newsletter_subscribed", json!({ "list": "weekly_digest" }));
    }
    if v.customer.user_id.is_none() && v.chance(0.09 * intent) {
        v.dwell();
        v.identify();
        v.track("signed_up", json!({ "method": "email" }));
    }

    // Conversion: cart, checkout, payment, purchase.
    let mut cart = std::mem::take(&mut v.customer.cart);
    for product in &viewed {
        if v.chance(0.3 * intent) {
            v.dwell();
            v.track(
                "added_to_cart",
                json!({ "quantity": 1, "product": product_json(product), "cart_size": cart.len() + 1 }),
            );
            cart.push(*product);
        }
    }
    if cart.len() > 1 && v.chance(0.15) {
        v.dwell();
        if let Some(removed) = cart.pop() {
            v.track("removed_from_cart", json!({ "product": product_json(&removed), "cart_size": cart.len() }));
        }
    }
    let mut purchased = false;
    if !cart.is_empty() {
        v.dwell();
        v.page("Cart", "/cart", json!({}));
        v.track("cart_viewed", json!({ "items": cart.len() }));
        if v.chance(0.6 * intent) {
            v.dwell();
            let value: f64 = cart.iter().map(|p| p.price).sum();
            v.page("Checkout", "/checkout", json!({}));
            v.track("checkout_started", json!({ "value": value, "currency": "USD", "items": cart.len() }));
            if v.customer.user_id.is_none() && v.chance(0.7) {
                v.identify();
            }
            if v.chance(0.85) {
                v.dwell();
                v.track("payment_info_entered", json!({ "payment_method": "card" }));
                let mut paid = !v.chance(0.12);
                if !paid {
                    let reason = *PAYMENT_FAILURES.choose(v.rng).unwrap_or(&"card_declined");
                    v.track("payment_failed", json!({ "reason": reason, "value": value }));
                    if v.chance(0.45) {
                        v.dwell();
                        v.track("payment_info_entered", json!({ "payment_method": "card", "retry": true }));
                        paid = true;
                    } else if v.chance(0.5) {
                        v.dwell();
                        v.track(
                            "support_ticket_created",
                            json!({ "topic": "payment", "reason": reason, "priority": "high" }),
                        );
                    }
                }
                if paid {
                    v.dwell();
                    let order = format!("ord-{:08x}", v.rng.gen::<u32>());
                    let products: Vec<Value> = cart.iter().map(product_json).collect();
                    v.page("Order confirmation", "/checkout/complete", json!({}));
                    v.track(
                        "purchase_completed",
                        json!({ "order_id": order, "revenue": value, "currency": "USD", "products": products, "repeat": v.customer.orders > 0 }),
                    );
                    v.customer.orders += 1;
                    v.customer.last_order = Some(order);
                    cart.clear();
                    purchased = true;
                }
            }
        }
    }
    v.customer.cart = cart;

    // Retention: does the customer come back, and when?
    let back = if purchased {
        0.4
    } else if !v.customer.cart.is_empty() {
        0.3
    } else {
        0.15
    };
    let returns_after_days = (v.customer.visits < 6 && v.chance(back)).then(|| 0.5 + v.rng.gen::<f64>() * 6.0);
    Visit { steps: v.steps, returns_after_days }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn simulate(seed: u64, customers: usize) -> Vec<Value> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut messages = Vec::new();
        for _ in 0..customers {
            let mut customer = Customer::new(&mut rng);
            loop {
                let visit = plan_visit(&mut rng, &mut customer);
                messages.extend(visit.steps.into_iter().map(|s| s.message));
                if visit.returns_after_days.is_none() {
                    break;
                }
            }
        }
        messages
    }

    fn count(messages: &[Value], event: &str) -> usize {
        messages.iter().filter(|m| m["event"] == event).count()
    }

    #[test]
    fn the_same_seed_tells_the_same_story() {
        assert_eq!(simulate(7, 50), simulate(7, 50));
        assert_ne!(simulate(7, 50), simulate(8, 50));
    }

    #[test]
    fn every_stage_and_drop_off_has_something_to_show() {
        let messages = simulate(42, 2_000);
        let viewed = count(&messages, "product_viewed");
        let added = count(&messages, "added_to_cart");
        let checkout = count(&messages, "checkout_started");
        let purchased = count(&messages, "purchase_completed");
        // A funnel that narrows at every step, but never to nothing.
        assert!(
            viewed > added && added > checkout && checkout > purchased && purchased > 0,
            "{viewed} {added} {checkout} {purchased}"
        );
        for event in [
            "payment_failed",
            "support_ticket_created",
            "signed_up",
            "order_shipped",
            "order_returned",
            "logged_in",
            "products_searched",
            "removed_from_cart",
        ] {
            assert!(count(&messages, event) > 0, "no {event}");
        }
        assert!(messages.iter().any(|m| m["type"] == "identify"));
        assert!(messages.iter().any(|m| m["context"]["campaign"]["source"] == "newsletter"));
    }

    #[test]
    fn every_message_carries_an_identity_and_steps_move_forward_in_time() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let mut customer = Customer::new(&mut rng);
            let visit = plan_visit(&mut rng, &mut customer);
            assert!(visit.steps.windows(2).all(|w| w[0].at <= w[1].at));
            for step in &visit.steps {
                assert!(step.message["anonymousId"].is_string());
                assert!(step.message["type"].is_string());
            }
        }
    }

    #[test]
    fn identified_customers_keep_their_user_id_on_later_events() {
        let mut rng = StdRng::seed_from_u64(11);
        let found = (0..500).any(|_| {
            let mut customer = Customer::new(&mut rng);
            let visit = plan_visit(&mut rng, &mut customer);
            let identify_at = visit.steps.iter().position(|s| s.message["type"] == "identify");
            match identify_at {
                Some(i) => visit.steps[i..].iter().all(|s| s.message["userId"].is_string()),
                None => false,
            }
        });
        assert!(found);
    }
}
