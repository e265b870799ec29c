//! The live view on a terminal (ratatui over crossterm): the same sections
//! as the plain text ([`super::render::sections`]), redrawn at every
//! interval and when the terminal is resized, on the alternate screen.
//! `q`, Esc or Ctrl-C stop (raw mode turns Ctrl-C into a key, not SIGINT).

use std::io;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Padding, Paragraph, Row, Table};
use ratatui::{DefaultTerminal, Frame};

use super::aggregate::Summary;
use super::render::{sections, title, Section};

/// The terminal in raw mode on its alternate screen, given back as it was
/// when this is dropped (an error or a panic included: ratatui's panic hook).
pub struct Live {
    terminal: DefaultTerminal,
    last: Option<Summary>,
}

impl Live {
    pub fn start() -> io::Result<Live> {
        let terminal = ratatui::try_init()?;
        let mut live = Live { terminal, last: None };
        live.redraw()?;
        Ok(live)
    }

    /// Shows a new interval's summary.
    pub fn show(&mut self, s: Summary) -> io::Result<()> {
        self.last = Some(s);
        self.redraw()
    }

    /// Reads the keys and resizes that came; true when the user asked to stop.
    pub fn quit_requested(&mut self) -> io::Result<bool> {
        let mut resized = false;
        while event::poll(Duration::ZERO)? {
            match event::read()? {
                Event::Key(k) if k.kind == KeyEventKind::Press => {
                    let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                    if ctrl_c || matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) {
                        return Ok(true);
                    }
                }
                Event::Resize(..) => resized = true,
                _ => {}
            }
        }
        if resized {
            self.redraw()?;
        }
        Ok(false)
    }

    fn redraw(&mut self) -> io::Result<()> {
        let last = &self.last;
        self.terminal.draw(|f| draw(f, last.as_ref()))?;
        Ok(())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = ratatui::try_restore();
    }
}

fn draw(f: &mut Frame, s: Option<&Summary>) {
    let Some(s) = s else {
        let p = Paragraph::new("fsnotify-gadget top: waiting for the first interval … (q quits)");
        f.render_widget(p, f.area());
        return;
    };
    let secs = sections(s);
    // The tracers and the daemons get their rows, header and border; the
    // pairs (the longest list) the rest. What does not fit is cut at the
    // bottom of its block.
    let height = |sec: &Section| sec.rows.len().max(1) as u16 + 3;
    let constraints = [
        Constraint::Length(1),
        Constraint::Length(height(&secs[0])),
        Constraint::Min(height(&secs[1]).min(8)),
        Constraint::Length(height(&secs[2])),
        Constraint::Length(1),
    ];
    let areas = Layout::vertical(constraints).split(f.area());
    f.render_widget(Paragraph::new(title(s)), areas[0]);
    for (sec, area) in secs.iter().zip(&areas[1..]) {
        f.render_widget(table(sec), *area);
    }
    let help = Line::from("q quits; the summary of the whole run is printed on exit").style(Style::new().add_modifier(Modifier::DIM));
    f.render_widget(help, areas[areas.len() - 1]);
}

fn table(sec: &Section) -> Table<'_> {
    let widths: Vec<Constraint> = sec
        .header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let w = sec.rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0).max(h.len());
            Constraint::Length(w as u16)
        })
        .collect();
    let cell = |i: usize, text: &str| {
        let line = Line::from(text.to_string());
        Cell::from(if sec.numeric[i] { line.right_aligned() } else { line })
    };
    let header = Row::new(sec.header.iter().enumerate().map(|(i, h)| cell(i, h))).style(Style::new().add_modifier(Modifier::BOLD));
    let rows = sec.rows.iter().map(|r| Row::new(r.iter().enumerate().map(|(i, c)| cell(i, c))));
    let title = if sec.more > 0 { format!(" {} ({} more) ", sec.title, sec.more) } else { format!(" {} ", sec.title) };
    Table::new(rows, widths).header(header).column_spacing(2).block(Block::bordered().title(title).padding(Padding::horizontal(1)))
}
