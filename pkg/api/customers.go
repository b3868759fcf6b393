package api

import (
	"context"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Brokers and customers: the hierarchy above domains, which the doc
// refers to without documenting how it is created (Extensions).

func (s *Server) brokerOut(b *db.Broker) gen.Broker {
	return gen.Broker{Id: s.id(b.ID), Name: b.Name, Description: null(b.Description), ExternalId: null(b.ExternalID), CreatedAt: b.CreatedAt}
}

// CreateBroker creates a broker.
func (s *Server) CreateBroker(ctx context.Context, req gen.CreateBrokerRequestObject) (gen.CreateBrokerResponseObject, error) {
	if req.Body.Name == "" {
		return nil, badField("name", "must not be empty")
	}
	b := &db.Broker{Name: req.Body.Name, Description: req.Body.Description, ExternalID: req.Body.ExternalId}
	if err := s.store.CreateBroker(ctx, b); err != nil {
		if isConflict(err) {
			return nil, conflict("A broker already exists with the name %s", b.Name)
		}
		return nil, err
	}
	return gen.CreateBroker201JSONResponse{
		Body:    s.brokerOut(b),
		Headers: gen.CreateBroker201ResponseHeaders{Location: s.location("/brokers/%s", s.id(b.ID))},
	}, nil
}

// GetBroker returns one broker.
func (s *Server) GetBroker(ctx context.Context, req gen.GetBrokerRequestObject) (gen.GetBrokerResponseObject, error) {
	key := targetOf(ctx).key
	b, err := s.store.GetBroker(ctx, key)
	if err != nil {
		return nil, about(err, fault.Broker)
	}
	return gen.GetBroker200JSONResponse(s.brokerOut(b)), nil
}

// ListBrokers lists brokers.
func (s *Server) ListBrokers(ctx context.Context, req gen.ListBrokersRequestObject) (gen.ListBrokersResponseObject, error) {
	p := req.Params
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	rows, total, next, err := s.store.ListBrokers(ctx, match(p.Name), pg)
	if err != nil {
		return nil, err
	}
	out := make([]gen.Broker, len(rows))
	for i := range rows {
		out[i] = s.brokerOut(&rows[i])
	}
	return gen.ListBrokers200JSONResponse{Body: out, Headers: gen.ListBrokers200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}

// CreateCustomer creates a customer, under a broker if one is given.
func (s *Server) CreateCustomer(ctx context.Context, req gen.CreateCustomerRequestObject) (gen.CreateCustomerResponseObject, error) {
	in := req.Body
	if in.Name == "" {
		return nil, badField("name", "must not be empty")
	}
	c := &db.Customer{Name: in.Name, Description: in.Description, ExternalID: in.ExternalId}
	if in.BrokerId != nil {
		k, err := s.refKey(*in.BrokerId, "brokerId", "broker")
		if err != nil {
			return nil, err
		}
		c.BrokerID = &k
	}
	if err := s.store.CreateCustomer(ctx, c); err != nil {
		if isConflict(err) {
			return nil, conflict("A customer already exists with the name %s", c.Name)
		}
		return nil, err
	}
	return gen.CreateCustomer201JSONResponse{
		Body:    s.customerOut(c),
		Headers: gen.CreateCustomer201ResponseHeaders{Location: s.location("/customers/%s", s.id(c.ID))},
	}, nil
}

// GetCustomer returns one customer.
func (s *Server) GetCustomer(ctx context.Context, req gen.GetCustomerRequestObject) (gen.GetCustomerResponseObject, error) {
	id := targetOf(ctx).key
	c, err := s.store.GetCustomer(ctx, id)
	if err != nil {
		return nil, about(err, fault.Customer)
	}
	return gen.GetCustomer200JSONResponse(s.customerOut(c)), nil
}

// ListCustomers lists customers.
func (s *Server) ListCustomers(ctx context.Context, req gen.ListCustomersRequestObject) (gen.ListCustomersResponseObject, error) {
	p := req.Params
	f := db.CustomerFilter{Name: match(p.Name), ExternalID: match(p.ExternalId), BrokerID: s.filterKey(p.BrokerId)}
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	rows, total, next, err := s.store.ListCustomers(ctx, f, pg)
	if err != nil {
		return nil, err
	}
	out := make([]gen.Customer, len(rows))
	for i := range rows {
		out[i] = s.customerOut(&rows[i])
	}
	return gen.ListCustomers200JSONResponse{Body: out, Headers: gen.ListCustomers200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}
