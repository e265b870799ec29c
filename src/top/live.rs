//! The live view on a terminal (ratatui over crossterm): the same sections
//! as the plain text ([`super::render::sections`]), redrawn at every
//! interval and when the terminal is resized, on the alternate screen.
//! `q`, Esc or Ctrl-C stop (raw mode turns Ctrl-C into a key, not SIGINT).
//! A terminal that goes away (its window closed, tmux killed, ssh cut) stops
//! the view too: it is checked for a hangup before every read of its keys.

use std::fs::File;
use std::io::{self, IsTerminal};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
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
    /// Where the keys come from, as crossterm picks it: standard input when
    /// it is a terminal, else /dev/tty (opened here, the same terminal).
    input: Input,
    /// The terminal hung up: nothing is drawn or read any more.
    gone: bool,
}

enum Input {
    Stdin,
    Tty(File),
}

impl Input {
    fn open() -> io::Result<Input> {
        if io::stdin().is_terminal() {
            Ok(Input::Stdin)
        } else {
            File::open("/dev/tty").map(Input::Tty)
        }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            // Standard input lives as long as the process.
            Input::Stdin => unsafe { BorrowedFd::borrow_raw(libc::STDIN_FILENO) },
            Input::Tty(f) => f.as_fd(),
        }
    }
}

/// True when the terminal behind `fd` has hung up (or the fd is no longer
/// one), which poll(2) reports at once. crossterm's own reader does not see
/// it: its read gives 0 bytes or EIO forever and it loops on them.
fn hung_up(fd: BorrowedFd<'_>) -> bool {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one pollfd, valid for the call; a zero timeout never blocks.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

impl Live {
    pub fn start() -> io::Result<Live> {
        let input = Input::open()?;
        let terminal = ratatui::try_init()?;
        let mut live = Live { terminal, last: None, input, gone: false };
        live.redraw()?;
        Ok(live)
    }

    /// False once the terminal has gone away; there is then nowhere to show
    /// anything, the final summary included.
    pub fn alive(&mut self) -> bool {
        if !self.gone && hung_up(self.input.fd()) {
            self.gone = true;
        }
        !self.gone
    }

    /// Shows a new interval's summary.
    pub fn show(&mut self, s: Summary) -> io::Result<()> {
        self.last = Some(s);
        if !self.alive() {
            return Ok(());
        }
        self.redraw()
    }

    /// Reads the keys and resizes that came; true when the user asked to stop
    /// or the terminal went away.
    pub fn quit_requested(&mut self) -> io::Result<bool> {
        if !self.alive() {
            return Ok(true);
        }
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
        if !self.gone {
            let _ = ratatui::try_restore();
        }
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
