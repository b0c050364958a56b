// Policy text the decision tests share: the resources their rules are about. A test writes its own rules
// after these (`${ORDERS_DB}rules: …`), so what it decides stays in the test.

/** `resources:` with orders-db (postgres, connection orders): read-only grants orders_read, read-write orders_write. */
export const ORDERS_DB = `resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [orders_read] }
      read-write: { grant: [orders_write] }
`;

/** One more resource for after ORDERS_DB: billing-db (postgres, connection billing), read-only grants billing_read. */
export const BILLING_DB = `  billing-db:
    provider: postgres
    connection: billing
    roles:
      read-only: { grant: [billing_read] }
`;
