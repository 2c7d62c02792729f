-- 0011_orders_oversold_due.sql - the orders still oversold, by what is
-- to be done about them and since when: the orders worker looks here for
-- oversold orders whose cancellation is due (oversold_grace), so the
-- partial index holds only the few flagged orders, not every order.
-- PostgreSQL dialect of ../0011_orders_oversold_due.sql (same version,
-- same index).
CREATE INDEX orders_oversold_due ON orders (oversold_action, updated_at)
    WHERE oversold = 1;
