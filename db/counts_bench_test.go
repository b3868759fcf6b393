package db

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/cleanmail/cleanmail/db/dbtest"
)

// BenchmarkCreateUser measures what the kept counts cost the writes: users
// created by 8 concurrent clients into 4 domains, with the users' count
// triggers (counted) and with them dropped (uncounted, the floor), on each
// database. On PostgreSQL the concurrent creations update the same count
// rows (the table's, their domain's).
func BenchmarkCreateUser(b *testing.B) {
	for name, url := range map[string]func(testing.TB) string{"sqlite": dbtest.SQLite, "postgres": dbtest.Postgres} {
		for _, counted := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/counted=%v", name, counted), func(b *testing.B) {
				s := openTestStore(b, url(b))
				ctx := context.Background()
				if !counted {
					err := s.write(ctx, func(gdb *gorm.DB) error {
						for _, ev := range []string{"insert", "delete"} {
							q := "DROP TRIGGER users_count_" + ev
							if s.Dialect() == Postgres {
								q += " ON users"
							}
							if err := gdb.Exec(q).Error; err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				var domains []int64
				for i := range 4 {
					d, err := s.CreateDomain(ctx, newTestDomain(fmt.Sprintf("bench%d.example", i)))
					if err != nil {
						b.Fatal(err)
					}
					domains = append(domains, d)
				}
				var seq atomic.Int64
				b.SetParallelism(4) // 8 clients on 2 cores
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := seq.Add(1)
						d := domains[i%4]
						if err := s.CreateUser(ctx, newUser(d, fmt.Sprintf("u%d@bench%d.example", i, i%4))); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
