package db

import (
	"context"

	"gorm.io/gorm"
)

// BrokerList declares the broker list's sort fields.
var BrokerList = ListSpec{
	Table:       "brokers",
	DefaultSort: "name",
	Sorts:       map[string]string{"id": "brokers.id", "name": "lower(brokers.name)", "createdAt": "brokers.created_at"},
}

// CustomerList declares the customer list's sort fields.
var CustomerList = ListSpec{
	Table:       "customers",
	DefaultSort: "name",
	Sorts:       map[string]string{"id": "customers.id", "name": "lower(customers.name)", "createdAt": "customers.created_at"},
}

// CustomerFilter holds the customer list's filters.
type CustomerFilter struct {
	Name       Match
	ExternalID Match
	BrokerID   *int64
}

// CreateBroker stores a broker; a name already used gives ErrConflict.
func (s *Store) CreateBroker(ctx context.Context, b *Broker) error {
	b.CreatedAt = nowMillis()
	return s.write(ctx, func(gdb *gorm.DB) error { return gdb.Create(b).Error })
}

// ListBrokers returns one page of brokers.
func (s *Store) ListBrokers(ctx context.Context, name Match, p Page) ([]Broker, int64, *Cursor, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	q := where(gdb.Model(&Broker{}), name, "brokers.name")
	return findPage(ctx, q, BrokerList, brokerColumns, p)
}

// GetBroker loads one broker.
func (s *Store) GetBroker(ctx context.Context, id int64) (*Broker, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var b Broker
	if err := gdb.First(&b, id).Error; err != nil {
		return nil, translate(err)
	}
	return &b, nil
}

// CreateCustomer stores a customer under an existing broker (if given); a
// name already used gives ErrConflict.
func (s *Store) CreateCustomer(ctx context.Context, c *Customer) error {
	c.CreatedAt = nowMillis()
	return s.tx(ctx, func(tx *gorm.DB) error {
		if c.BrokerID != nil {
			if err := exists(tx, &Broker{}, *c.BrokerID, "brokerId", "broker"); err != nil {
				return err
			}
		}
		return tx.Create(c).Error
	})
}

// GetCustomer loads one customer.
func (s *Store) GetCustomer(ctx context.Context, id int64) (*Customer, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var c Customer
	if err := gdb.First(&c, id).Error; err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// ListCustomers returns one page of customers.
func (s *Store) ListCustomers(ctx context.Context, f CustomerFilter, p Page) ([]Customer, int64, *Cursor, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	q := gdb.Model(&Customer{})
	q = where(q, f.Name, "customers.name")
	q = where(q, f.ExternalID, "customers.external_id")
	if f.BrokerID != nil {
		q = q.Where("customers.broker_id = ?", *f.BrokerID)
	}
	if f == (CustomerFilter{}) {
		q = counted(q, rowCount{table: "customers"})
	}
	return findPage(ctx, q, CustomerList, customerColumns, p)
}

// BrokerExists reports ErrNotFound for an unknown broker.
func (s *Store) BrokerExists(ctx context.Context, id int64) error {
	gdb, cancel := s.db(ctx)
	defer cancel()
	return translate(gdb.Select("id").First(&Broker{}, id).Error)
}
