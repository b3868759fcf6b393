package templates

import (
	"fmt"
	"math"
	"time"
)

// locale is what a language needs besides its templates: its dates and
// its durations.
type locale struct {
	months [12]string
	// format writes a date: day of the month, the month's name, year,
	// hour and minute.
	format func(day int, month string, year, hour, minute int) string
	// units are the singular and plural of day, hour and minute.
	units [3][2]string
}

// locales has the locale of every language that has templates, by code.
var locales = map[string]locale{
	"EN": {
		months: [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		format: func(d int, m string, y, h, min int) string { return fmt.Sprintf("%d %s %d %02d:%02d", d, m, y, h, min) },
		units:  [3][2]string{{"day", "days"}, {"hour", "hours"}, {"minute", "minutes"}},
	},
	"FR": {
		months: [12]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
		format: func(d int, m string, y, h, min int) string {
			if d == 1 {
				return fmt.Sprintf("1er %s %d %02d:%02d", m, y, h, min)
			}
			return fmt.Sprintf("%d %s %d %02d:%02d", d, m, y, h, min)
		},
		units: [3][2]string{{"jour", "jours"}, {"heure", "heures"}, {"minute", "minutes"}},
	},
	"DE": {
		months: [12]string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
		format: func(d int, m string, y, h, min int) string {
			return fmt.Sprintf("%d. %s %d %02d:%02d", d, m, y, h, min)
		},
		units: [3][2]string{{"Tag", "Tage"}, {"Stunde", "Stunden"}, {"Minute", "Minuten"}},
	},
	"ES": {
		months: [12]string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"},
		format: func(d int, m string, y, h, min int) string {
			return fmt.Sprintf("%d de %s de %d %02d:%02d", d, m, y, h, min)
		},
		units: [3][2]string{{"día", "días"}, {"hora", "horas"}, {"minuto", "minutos"}},
	},
}

// date writes t (already in the reader's zone) the language's way:
// "2 January 2026 15:04", "2 janvier 2026 15:04", "2. Januar 2026 15:04",
// "2 de enero de 2026 15:04".
func (l locale) date(t time.Time) string {
	return l.format(t.Day(), l.months[t.Month()-1], t.Year(), t.Hour(), t.Minute())
}

// duration writes d rounded to its unit: days from 48 hours, hours from
// one, minutes below ("7 days", "12 hours", "1 hour", "30 minutes"). A
// mail is rendered a moment after its link was made, so d is a little
// short of what was meant; rounding to the nearest gives it back.
func (l locale) duration(d time.Duration) string {
	n, unit := 0, 0
	switch {
	case d >= 48*time.Hour:
		n, unit = int(math.Round(d.Hours()/24)), 0
	case d.Round(time.Minute) >= time.Hour:
		n, unit = int(math.Round(d.Hours())), 1
	default:
		n, unit = max(1, int(math.Round(d.Minutes()))), 2
	}
	if n == 1 {
		return "1 " + l.units[unit][0]
	}
	return fmt.Sprintf("%d %s", n, l.units[unit][1])
}
