// The English word lists of the RULER generators (include/tttmem/ruler.h): cwe draws its words
// from nouns + adjectives + verbs, niah's "words" keys are adjective-noun pairs, as RULER's are
// from the wonderwords lists. RULER downloads nothing here either: these lists ship compiled in.
//
// Origin (derived once, on Debian 12): the words of SCOWL sizes 10 and 20
// (/usr/share/dict/scowl/english-words.{10,20}, Debian package `scowl` 2020.12.07-2), kept when
// all lowercase a-z, 3 to 10 letters long, and a WordNet 3.0 lemma (Debian package
// `wordnet-base` 1:3.0-37, /usr/share/wordnet/index.{noun,verb,adj,adv}); each word goes to the
// part of speech with the most semantically tagged senses in WordNet (tagsense_cnt; ties: noun,
// then adjective, then verb), and words that are mostly adverbs, or have no tagged sense, are
// dropped.
// Lemmas only, so no inflected forms; function words (not in WordNet) drop out, as they are not
// in RULER's lists either. Each list is sorted.
//
// SCOWL: Copyright 2000-2011 by Kevin Atkinson. Permission to use, copy, modify, distribute and
// sell these word lists, the associated scripts, the output created from the scripts, and its
// documentation for any purpose is hereby granted without fee, provided that the above copyright
// notice appears in all copies and that both that copyright notice and this permission notice
// appear in supporting documentation. Kevin Atkinson makes no representations about the
// suitability of this array for any purpose. It is provided "as is" without express or implied
// warranty.
//
// WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. THIS SOFTWARE AND
// DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES,
// EXPRESS OR IMPLIED. BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON UNIVERSITY MAKES NO
// REPRESENTATIONS OR WARRANTIES OF MERCHANTABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT
// THE USE OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT INFRINGE ANY THIRD PARTY
// PATENTS, COPYRIGHTS, TRADEMARKS OR OTHER RIGHTS. The name of Princeton University or Princeton
// may not be used in advertising or publicity pertaining to distribution of the software and/or
// database. Title to copyright in this software, database and any associated documentation shall
// at all times remain with Princeton University and LICENSEE agrees to preserve same.
#include <string_view>
#include <vector>

#include "tttmem/ruler.h"

namespace tttmem::ruler {

namespace {

// Whitespace-separated words; split once on first use.
constexpr std::string_view kNouns = R"(
ability abolition abortion absence accent acceptance access accident accordance account
accountant accounting accuracy accusation ace acid acting action activity actor adaptation
addition adjective adjustment admiration admission adoption adult advantage advent adventure
advice aerial affair affairs affection afternoon age agency agenda agent agony agreement aid air
aircraft airport alarm album alcohol alignment allegation allocation allowance ally alpha
alteration amateur ambassador amber ambiguity amendment amount amp amplifier amusement analogue
analogy analysis analyst anarchy anatomy ancestor anecdote angel anger angle anguish animal
annoyance apology appalling apparatus appeal appearance appendix applause apple applicant
appraisal approval arc arch archives area arena argument arithmetic arm arms army array arrival
arrogance arrow art article artist arts ash aspect ass assault assembly assertion assessment
asset assigning assignment assist assistance assistant assumption asterisk astronomy atheist
atmosphere atom attachment attack attempt attendance attendant attention attitude attorney
attraction attribute audience aunt author authority automobile autumn award awarding awareness
axiom axis baby backbone background backing backlog bacteria badge baffled bag baggage ball
ballet ballot banana band bandwidth bank banner bar bargain bark barrel barrier base basement
bash basis basket bass bastard bat batch bath bathroom battery battle bay beach beam bean beard
bearing beast beating beauty bed bedroom beef beer beginner beginning behalf being belief
believer bell belt bench benefit bent best bet beta bias bible bicycle bidding bill billion bin
binding biography biologist biology bird birth birthday biscuit bishop bit blackboard blade
blanket blessing blind blob block blood blowing blue blues board boat body bog boiling bolt bomb
bombing bond bone bonus book booking boot border boredom borrowing boss bottle bottom boundary
bounds bout bow bowl box boy brain brake brakes branch brand brass bread breakdown breakfast
breaking breath breathing breeding breeze brick bridge brigade brightness bringing broadcast
brother brown bubble bucket budget buffer bug building bulb bulk bull bullet bulletin bunch
bundle burden burning bus bush business butter button buyer buying bypass cabbage cabinet cable
cage cake calculus calendar caller camera camp campaign campus cancer candidate cant cap
capability capacity capital capitalism capitalist captain car carbon card cardboard cards care
career carpet carriage carrier cartoon cartridge case cash castle cat catching category
cathedral catholic cattle cause caution cave caveat ceiling cell censorship cent century
ceremony certainty chain chair chairman chamber champagne champion chance channel chaos chap
chapel chapter character charity charm chart charter chase cheek cheese chemist chemistry chest
chicken chief child childhood chip chocolate choice choir chord chorus chosen chuck chunk church
cigarette cinema circle circuit circuitry citizen city civilian claim clarity clash class
classic classics clause cleaner cleaning clearance clearing client cliff climate clip clique
clock closet closing closure cloth clothes clothing cloud club clue coal coast coat cobbler code
coffee coin collapse collar colleague collection collective college colon colony column combat
comedy comfort coming command comment commentary commission commitment committee commodity
communism communist community compact companion company comparison compassion competence
competitor compiling complaint complement completion complex complexity component composer
composing composite compound compromise compulsion computer con concept conception concern
concert concerto conclusion concrete condition conductor conference confidence confines conflict
confusion congestion conjecture connection conscience consensus consent conspiracy consultant
consumer contact container contempt content contention contest context continent continuity
continuum contour contrast control controller convention conversion convict conviction cookie
cooking cooling coping copper copy core corn corner corpse correction corridor corruption cost
cotton council counsel counter counting country county couple coupling courage courier course
court courtesy cousin coverage cow cows cracking craft cramp cream creation creator creature
credit creed crew cricket crime crisis crisp criterion critic criticism crop crossing crossroad
crossroads crown cruelty crunch cry crystal cube culprit cult culture cup cupboard curiosity
currency current curriculum curse curtain curve custom customer cutting cycle cyclist cylinder
cynic damage damnation dance dancing danger daring dark darkness darling data date datum
daughter dawn day daylight days daytime deadline deaf dealer dealing death debt decade decay
decision deck deduction deed default defeat defect deficiency defining definition degree deity
delivery delta demand democracy density dentist department departure dependence depression depth
deputy derivative design designer desire desk despair detail details detecting detection
detective detector deterrent developer deviation device devil diagnosis diagram dial dialect
dialogue diameter diary dice dictate dictionary diet difference difficulty dignity dilemma
dimension dinner direction directive director directory dirt disabled disaster disc discipline
discount discovery discretion discussion disease disguise disgust dish disk dislike disorder
display disposal disregard disruption distance distortion distress district ditch dive diversity
diving division doctor doctrine document dog dogma dollar domain don donation doom doomed door
dose dot doubt dozen dozens draft drafting dragon drama drawing dread dream drinking driver drug
drum duration dust dustbin duty dying dynamics eagle ear earth east eating economics economy
edge edition editor editorial education effect efficiency effort egg eggs ego election electron
element elephant elevator elite emergency emotion emphasis empire employee employer employment
end ending enemy energy engine engineer enjoyment enough enterprise enthusiasm entirety entity
entrance entry envelope envy episode equality equation equipment equipping equivalent era error
escape essay essence estate estimate eternity ethic ethics evaluation evening event evidence
evil evolution example exception excess exchange excitement exclusion execution executive
exercise exercising exhibition existence exit expansion expedition expense experiment expert
expertise explosion export exposure expression extension extent eye eyes eyesight fabric face
facility facing fact factor factory faculty failure fairness fairy faith fake fame family fan
fancy fantasy farce fare farewell farm farmer fashion fat fate father faucet fault feat feature
fee feedback feeding feeling feelings fellow female fence fender festival fever fiction fiddle
field fifteen fifth fifty fighter fighting figure figuring filing filling film filming filter
finance finding finishing firework firing fish fishing five fixing flag flame flashing flaw
fleet flesh flight flood floor flour flow flower flowing fluid flush flute foam focus fog fold
folk folks follower food fool foot football footnote foreigner forest fork form formation
formula fortune forwarding foundation founding fountain four fourteen fourth fraction fragment
framework fraud freak freedom freeway freezing french frequency friction friend friendship
fringe frog front fruit fuel fumes fun function fund funds funeral fur furniture fusion galaxy
game gang gap garage garbage garden gas gasoline gasp gate gateway gathering gear gender
generation generator genius genre gentleman geology geometry gesture ghost giant gift gig girl
girlfriend giving glass glasses glory glove glow gnome goal goat god going gold golf goodness
gospel gossip governed government governor gown grace grade graduation grain graph grass grave
gravity greed green grief grinding grip groan ground grounds group grouping growing growth guard
guessing guest guidance guide guilt guitar gulf gum gun gut guts gutter guy habit hack hacker
hair haircut hall halt ham hammer hand handful handicap handling hands hangover happening
happiness hardship hardware harm harmony hat hate hatred havoc hay hazard head headache heading
headline health heap hearing heart heat heating heaven heavens heel height heights hell hello
herd heritage hero hide hiding hierarchy highway hill hint hip historian history hobby holder
holding hole holiday hollow home homosexual honesty honey hope horde horizon horn horror horse
hospital host hotel hour hours house household housing humanity hundred hunting hurry husband
hut hydrogen hypocrisy hypocrite hypothesis ice idea ideal identity ideology idiom idiot
ignorance illness illusion image imbalance impact import importance impression impulse inability
inaccuracy incentive inch incidence incident incline income increase index indexing indication
indicator indictment induction industry inequality inertia infant infection inference inflation
influence ingredient inhabitant inhibition initial initiative injury injustice ink innocence
innovation input insect inside insight insistence inspection instance instant instinct
instrument insult insurance intake integer integrity intellect intensity intent intention
interest interface interim interior interval invalid invasion invention inventor investment
invitation ion iron irony irritation island isolation item jacket jail jargon jelly jest jet job
joint joke journal journalist journey joy juice junction junior junk jury justice keeping ken
kettle key keyboard kidney killer killing kind king kingdom kiss kit kitchen knee knife knight
knocking knowledge lab label laboratory lack lad ladder lady lag lager lake lamp land landing
landlord landscape lane language laugh laughter launching lavatory law lawn lawyer layer laying
layout leader leaders leadership leaf leaflet league leak leap learning leather leaving lecturer
lecturing left leg legend leisure lemon lending length lens lesson letter letters level
liability liaison liberty librarian library license lid life lifetime light lighting lightning
likelihood liking limb limit limitation line links lion lip liquid liquor list listener
literature litter liver living load loading loan lobby location logging logic looking loophole
lord loss losses lot lots love lover luck luggage lump lunch lung lust luxury machine machinery
madness magazine magic magnitude mail mailbox majority maker making male man management manager
mandate mania manner manpower manual margin marker market marketing marking marriage mask mass
masses master mate material matrix matter maximum may mayor maze meal meaning means measure
measuring meat mechanic mechanics mechanism medicine medium meeting melody member membership
memory men mentality menu mercury mercy merging merit mess message metal metaphor meter method
metro microwave midday middle midnight might migration mile mileage milk million mind mine
minimum mining minister minority mint minute miracle mirror misery misfortune missile mission
mist mistake mistaking misuse mixing mixture moan mob mode model moderation molecule moment
momentum monarch money monitoring monkey monochrome monopoly monster month mood moon moral
morality morals morning mortality mother motion motivation motive motor motto mountain mouse
mouth movement movie mud muddle murderer muscle museum music musician muttering mystery myth
mythology narrative nation nature nay necessity neck need needle nerve nerves nest net network
newcomer news newsletter newspaper nickname night nightmare nine nobody noise nonsense noon norm
north nose nostalgia notation note nothing notice notion noun novel novelty nowhere nuisance
number numbering nun nurse nut object objection objective obligation obscurity observer occasion
occasions occupation occurrence ocean odds offender offensive offering office officer offspring
oil omission opening opera operation operations operator opinion opponent opposition oppression
optimum opus orange orbit orchestra order ordering ordinary organ origin outcome outcry outline
outlook output outrage outset overflow overtime overtone owner ownership oxygen ozone pace
package packaging packet packing pad page paging pain pains painting pair palace panel panic
paper paperback papers par parade paradise paradox paragraph parallel parameter paraphrase
parent park parking parliament parody parrot part particle partition partner parts party passage
passenger passing passion past paste patch patent path patience patient pattern pause pavement
payment peace peak peasant peer pen penalty pencil penny people percent percentage perception
perfection period permission permit person personnel pet pharmacy phase phenomenon philosophy
phoenix phone photo phrase phrasing physicist physics physiology piano picture pie piece pig
pigeon pile pill pink pipe pit pitch pitfall pity pizza place plane planet planning planting
plaster plastic plate platform player playground playing pleasure plenty plot pocket poem poet
poetry point pole police policeman policy polish politeness politician politics poll polls
pollution polynomial pool pope popping populace popularity population pork port porter portion
position possession poster postscript pot potato poverty powder power practice praise prayer
preaching precaution precedence precedent precision prediction preface preference prefix
prejudice premise premises premium presence president pressing pressure prevention price pricing
pride priest prince principal principle print printing priority prison prisoner privacy private
privilege prize pro problem procedure proceeding proceeds processing processor producer product
production profession professor profile profit profits program progress projection promotion
pronoun proof propaganda property prophet proportion proposal prose prospect prostitute
protection protein protest prototype provision provisions proximity psychology public publicity
publisher publishing pulling pulp pulse pun punishment pupil purchase purity purple purpose
pursued pursuit pushing python quality quantity quarter quarters queen query quest quiz quota
quotation rabbit race racing racist racket radar radiation radical radio radius rag rage rail
railroad railway rain rainbow raising range rank rat rate rating ratio rationale rattling ray
razor reaction reader reading reality realm rear reason reasoning rebuilding receipt receiver
reception recipient reckoning record recorder recording recovery rectangle red reducing
reduction redundancy reference referendum reflection reflex reform refrain refund refusal regard
regime region regulation rejection relation relations relative relay relevance relief religion
remainder remains remark remedy reminder removal rendering rendition repair repetition replacing
reply reporter reporting reputation request rescue research researcher reserve reserves
residence resistance resolution resort resource respect respects response restaurant result
retail retirement revelation revenge revenue review revision revolt revolution reward rhyme
rhythm ribbon rice ringing riot risk ritual rival river road rock rocket rod role romance
romantic roof room rooms root rope rose rot rotation round route routine row rubber rubbish ruin
rule ruler ruling running rushing sabotage sack sacrifice safeguard safety saga sailing saint
sake salary sale salesman salt salvation sample sampling sand sandwich sanity sarcasm satellite
satire sauce saving savings scale scandal scarf scenario scene scenery schedule scheme scholar
school science scientist scope score scores scrap screaming screen script sea sealing season
seat second secretary sect section sector security seed segment selection self selling sending
sensation sense sentence sentiment separation sequence series sermon servant service services
session setting seven severity sex shade shadow shaking shame shape shaping sheep sheet shelf
shell shelter shining ship shipping shirt shock shoe shoes shooting shop shopping shortage shot
shouting shower showing shutdown side siding sight sign signal signature silence silver
similarity simplicity simulation sin singer singing single sinking sir sister site sitting
situation six sixties size sketch skill skin skirt skull sky slave sleep sleeping slice slide
slight slogan slope slot slowing smell smile smiling smoke smoking snack snail snow soap
socialism socialist society sock sod soil soldier sole solo solution someone son song sort soul
sound soundtrack soup source south space spacing span speaker speaking specialist species
specimen spectrum speech spell spelling spending sphere spike spiral spirit spirits spite spoke
spokesman sport spot spray spring spur squad stability stack staff stage stair staircase stairs
stake stall stance standpoint star starter state statement station statistic status stealing
steel stem step steps stereo stereotype stick stirring stock stomach stone storage store storm
story strain stranger strategy straw stream street strength stress stretching string stroke
structure student studio study stuff stunt stupidity style subject submission substance subtlety
subway success succession successor sufferer suffering suffix sugar suggestion suicide suite sum
summary summer sun sunlight sunshine supervisor supplement supplier support supporter supporting
surface surplus surprise survey survival suspension suspicion swearing sweat sweeping swimming
switching sword symbol symmetry sympathy symphony symptom syndicate syndrome synonym syntax
synthesis system table tackle tactic tactics tail tale talent talking talks tangent tank tape
target task taste tax taxi taxpayer tea teacher teaching team tears technique technology
teenager telephone television temper temple temptation ten tendency tending tennis tense tension
tenth term terminal terms territory terror terrorist test testing text thanks theme theology
theorem theory therapy thesis thickness thief thing things thinking third thirst thirty thought
thousand threat three threshold throat thumb tick ticket tie tiger tile time timer times
timetable timing tin tip title toad tobacco today toe toilet token tolerance toll tomato
tomorrow ton tone tongue tonight tons tool tooth top topic total tour tourist tower town toy
trace tracing track trade trading tradition traffic tragedy trail training transit transition
transport trap trapping tray treasure treatment treaty tree trend trial triangle trick trip
triumph troop troops trouble trouser truck trumpet trunk trust truth tube tune tuning turning
turntable tutor tutorial twelve twentieth twenty twin twisting two type typewriter typing
umbrella uncle undoing union unit unity universe university urgency urging usage use usefulness
user utility vacancy vacation vacuum validity valley value values valve vandalism variant
variation variety vector vegetable vehicle vein velocity vending vendor venture verb verdict
verse version vessel vet vicar vice vicinity victim victory video view viewer viewpoint village
vintage vinyl violation violence violin virgin virtue virus vision visitor vocabulary voice
voltage volume vote voter voting vowel waffle wage wages waiting walk wall wallet want war ward
warehouse warning warrant washing waste watching water wave way ways weakness wealth weapon
weather wedding week weekday weekend weekly weight welfare west wet wetting whale while whim
white whole width wife will willing wind window wine wing wings winner winning winter wire
wisdom wishing wit witch withdrawal witness wizard wolf woman wonder wood woods word wording
words worker workings works workshop world worm worse worst worth wound wrapper wrath wreck
wrist writer writing writings yard yawn year years yes yesterday youth zone
)";

constexpr std::string_view kAdjectives = R"(
abandoned able abnormal absent absolute absorbed absurd abused academic acceptable accepted
accepting accurate accusing accustomed acquired activated active actual acute adapted addicted
addressed adequate adjacent adjusted admirable adopted advanced adverse advertised advisable
aesthetic affected afraid aged aggressive akin alarmed alert alien alike alive all alleged
allowable alone altered alternate amazed amazing ambiguous ambitious amended ample amused
analogous ancient angry annoyed annoying annual anonymous another answering antique anxious any
apparent appealing applicable appointed approved apt arbitrary armed arranged arrogant
artificial artistic ascending ashamed asleep assigned assorted assured atomic attached attempted
attractive audible authentic automatic available average awaited awake aware awful awkward bad
baffling baked balanced bankrupt bare baroque based basic bearded beautiful believable beloved
beneficial better biblical big bigger biological biting bitter bizarre black blank blasting
blatant blessed bloody blown bogus bold booked borderline bored boring born both bound branded
brave brief bright brilliant broad broke broken brutal built burnt busy capable careful careless
casual causal central certain changed changing chaotic charged charitable charming cheap
cheerful chemical chestnut childish circular civil classical classified clean cleared clever
clinical close closed clothed clumsy coarse coherent cold combined comic commercial committed
common communal comparable compatible competent completed composed compressed concealed
conceptual concerned concise concluding confident confining confirmed confused confusing
congested connected conscious consequent consistent constant continual continued continuing
continuous contrary contrived controlled convenient convinced convincing cool corporate correct
corrupt cosmic costly countless covered cracked crazy creative credible criminal critical
crossed crowded crucial crude cruel crushed crushing cryptic cultural cumbersome cumulative
curious curly customary cute cynical damaging damn damned damp dangerous dashing dated dead
deadly dear decent declared decreasing dedicated deep defective defensive defined definite
definitive deliberate delicate delicious delighted delightful demanding democratic dense
dependent depressed deranged derived descending deserving desirable desired desperate destroyed
detached detailed detectable detected determined developed developing devious devoted diagnostic
diagonal different difficult dim diplomatic directed directing dirty disabling disastrous
discarded discovered discrete disguised disgusted disgusting dishonest dissimilar distant
distinct distressed disturbed disturbing diverse divided divine domestic dominant dominated
dominating done dotted doubtful down downhill dragging dramatic drastic drawn dreadful dreary
dressed dried driven driving drunk drunken dry dual dubious due dull dumb dynamic each eager
earliest early earned eastern easy eccentric economic economical educated effective efficient
eight eighteen eighth elaborate elderly elected electoral electric electrical electronic elegant
elementary eleven eligible embedded emotional empirical employed enabling endless enforced
engaged enjoyable enormous entire entitled epic equipped erroneous escaped esoteric essential
eternal ethical ethnic even eventual every everyday evident exact excellent excessive excited
exciting exclusive exempt exhausted exhausting exhaustive existing exotic expanded expected
expensive explicit explosive exposed expressed extant extended extensive external extra
extraneous extreme faced factual faint fair faithful fallen falling false familiar famous
fantastic farther fascinated fascist fatal feasible featured federal feeble few fewer fictional
fierce filled filmed filthy final financial fine finished finite firm first fiscal fitting fixed
flat flexible floating flooded fluffy flushed flying following fond fooling foolish forbidden
forced foreign forgotten formal former fortunate forty foul fragile frank frantic frequent fresh
fried friendly frightened frivolous frozen frustrated full functional funny furry fussy futile
future fuzzy garbled gay general generous genetic gentle genuine ghastly given glad global
glorious glowing golden gone good gorgeous governing gradual grand granted graphic graphical
grateful gratuitous greasy great greater greatest greedy grim gross grown guilty gullible hairy
half handled handy happy hard hardened hardy harmless harsh hasty hated hazy headed healthy
heard heated heavy held helpful helpless heroic hidden hideous high higher hilarious hired
historical honest hooked hopeful hopeless horizontal horrible horrid horrified horrifying
hostile hot huge human humane humble humorous hungry hunted hysterical identical identified
idiotic idle ignorant ill illegal illiterate imaginary immature immediate immense imminent
immoral immortal impaired impending imperative imperfect imperial impersonal implicit important
imposing impossible impressive improbable improved inaccurate inadequate inane incapable
incidental inclined inclusive incoherent incoming incomplete incorrect increased increasing
incredible indefinite indirect individual induced industrial inevitable infallible infamous
infantile inferior infinite inflexible informal informed infrequent inhabited inherent inhibited
injured inner innocent insane inspired inspiring intact integral integrated intended intense
intensive interested internal intimate intrinsic invaluable inverse inverted invisible inviting
involved ironic irrational irrelevant irritating isolated jammed jealous joined jolly juvenile
keen kindly knowing known lacking laid large larger last lasting late latest latter lazy leaded
leading leaning least legal legendary legitimate lengthy lesser lethal liable liberal licensed
lifted lighted likely limited limiting linear lined linguistic listed lit literal literary
literate little lively loaded local located logical lonely long loose lost loud lousy lovely
loving low lowered lowering loyal lucky ludicrous lunatic lyric mad made magical magnetic main
maintained major mandatory mangled manned many marginal marital marked married massive matched
matching mature meaningful mechanical medical medieval memorable mental mere merry messy mighty
mild military minded mindless minimal minor miraculous miserable misguided misleading misplaced
missing mistaken mixed mobile mock moderate modern modest modified molecular more mortal
motivated motivating mounted moving multiple multiplied mum mundane murdered musical mutual
mysterious mystic naive naked nameless nasty national native natural nearby neat necessary
needed needless negative neglected negligible nervous neutral new next nice noble noisy nominal
normal northern notable noted noticeable notorious nuclear null numb numerical numerous obliged
obnoxious obscene observed obsessed obtainable obvious occasional occupied odd official old
older one open opened operating opposed opposing opposite optical optimal optimistic oral
orbital orchestral ordered organic oriental oriented original orthodox other out outdated outer
outgoing outlined outraged outrageous outright outside overall overloaded overlooked overnight
overpriced overriding owing own owned packed padded paid painful painless painted pale paranoid
parked parochial partial particular passionate passive patched pathetic peaceful peculiar
pedantic pending perceived perfect periodic peripheral permanent perpetual persistent personal
perverse physical pinched plain planetary planned planted plastered plausible played pleasant
pleased pleasing poetic pointed polar polished polite political pompous poor popular populated
portable positive possessed possible potential powerful practical pragmatic preceding precious
precise preferable preferred pregnant prejudiced prepared prescribed preserved pretended pretty
previous primary prime primitive prior privileged probable processed productive profitable
profound projected prolonged prominent promising prone pronounced proper protecting proud proved
pseudo published pure pursuing puzzled puzzling qualified quick quiet racial raised rampant
random ranging rapid rare rational raw readable ready real realistic reasonable reassured
reassuring recent reckless recorded reduced redundant refined reformed refreshed refreshing
regional regular related relaxed relevant reliable relieved religious reluctant remaining
remarkable remote rending renewed renewing repeated repetitive reported repulsive required
resident resolved respected respective restrained restricted retained retired revealing revised
rich ridiculous rigid rigorous ripping rising risky robust rolling roman rotated rotten rough
roundabout rounded royal rude ruined ruled rural rusty sacred sad safe said same sane sarcastic
satisfied saved scaled scared scattered scheduled scientific searching secondary secret seeming
select selected selective selfish semantic senior sensible sensitive sentient separated
sequential serial serious settled seventh several severe sexual sexy shaken shaky shallow shaped
shared sharp sheer shifting shiny shocked shocking short shortened sick signed silent silly
similar simple simplified simplistic simulated sincere sinful singular sinister situated sixteen
sixth sixty sized skilled sliding slim slippery slipping sloppy slow small smaller smallish
smart smooth smug sober social soft solar solid solved some sordid sore sorry sought sounding
southern spaced spatial special specific specified spiritual splendid splitting spoken squared
squashed stable staggering stale standard standing stark starting startled startling starved
starving static steep sterling sticking sticky stiff still straight strange strategic stressed
stretched strict striking strong structural structured struggling stuffed stunned stunning
stupid subjective subsequent subtle succeeding successful successive such sudden sufficient
suitable suited sundry sunny super superb superior supposed supreme sure surprised surprising
surrounded surviving suspended suspicious sweet sworn symbolic symmetric synonymous syntactic
systematic tailored taken tall tame technical tedious teenage telling temporary tender tentative
terrible terrified terrifying terse tested thick thin thorough threatened tied tight timed tiny
tired tiresome tiring tolerant topical torn touching tough tragic trained trapped treated
tremendous trivial true trusted trying turned twisted typical ugly ultimate unable unaffected
unaware uncertain unchanged uncommon under underlying understood undone uneasy unemployed
unexpected unfair unfamiliar unhappy unhealthy unified uniform unique united universal unknown
unlike unlikely unlimited unlocked unlucky unnatural unofficial unpleasant unpopular unrelated
unreliable unseen unstable unsuitable untrue unused unusual unwanted unwelcome unwilling unwise
upper upright upset upstairs upward urban urgent usable used useful useless usual vague vain
valid valuable valued vanished variable varied various varying vast verbal vertical very viable
vicious vile violent virtual visible visual vital vocal void voluntary vulnerable walking
wandering warm warmed warming warped wary washed wasted wasteful weak wealthy weary wee weird
welcoming western wicked wide widespread wild winding wired wise witty wonderful wondrous wooden
workable working worldwide worn worried worthless worthwhile worthy wrapped wretched written
wrong yellow young younger zero
)";

constexpr std::string_view kVerbs = R"(
abandon abide abolish absorb abstract abuse accelerate accept accompany accomplish accord
accumulate accuse accustom achieve acquire act activate adapt add address adhere adjust
administer admire admit adopt advance advertise advise advocate affect afford agree aim align
allege alleviate allocate allow alter amaze amend amuse announce annoy answer anticipate appear
append apply appoint appreciate approach approve argue arise arrange arrest arrive ascend ask
assemble assert assess assign associate assume assure attach attain attend attract automate
avoid await baffle bake balance ban bang bear beat become beg begin behave believe belong bend
beware bid bind bite blame blast bless blink blow bob boggle boil boom boost bore borrow bother
bounce breach break breathe breed bring brush buck build bump burn burst bury bust buy calculate
call calm can cancel capture carry cast catch cater cease celebrate challenge change charge chat
cheat check cheer chew choose chop circulate cite clarify classify clear click climb clog clothe
cluster coach coincide collate collect combine come commence commit compare compel compensate
compete compile complain complete complicate compliment comply compose comprehend compress
comprise compute conceal concede conceive conclude concur condemn condense condone conduct
confess confine confirm conform confront confuse connect consider consist console constitute
construct consult consume contain contend continue contract contradict contribute contrive
converse convert convey convince cook cooperate coordinate cope correlate correspond cough count
cover crack crash crawl create creep cross crowd cruise crush cure cut dare dash deal debate
decide declare decline decrease dedicate deduce deem defend define defy degrade delay delight
deliver demolish denote deny depend deposit depress deprive derive descend describe desert
deserve designate despise destine destroy detach detect deter determine detract devastate
develop devise devote die differ dig digest dine dip direct disable disagree disappear
disappoint discard discharge disconnect discourage discover discuss dismiss dispose dispute
disrupt distort distract distribute disturb divert divide divorce dodge dominate donate double
drag drain draw dress drift drill drink drip drive drop drown duck dump duplicate earn ease eat
echo edit educate elect eliminate embarrass embed emerge emit employ empty emulate enable
enclose encounter encourage enforce engage enhance enjoy enlarge ensure entail enter entertain
entitle envisage equal equate equip erase err establish evaluate evolve exaggerate examine
exceed except excite exclude excuse execute exhaust exhibit exist expand expect experience
expire explain explode exploit explore expose express extend extract facilitate fail fall
fascinate fear feed feel fell fetch fight file fill find finger finish fire fit fix flash flip
float fly follow forbid force forecast forget forgive found frame free freeze frighten frown
frustrate fry fume fuse fuss gain gather generate get give glance glean glue govern grab
graduate grant grasp grind grow guarantee guess hail handle hang happen harden hasten have hear
help hesitate highlight hire hit hog hold hook hum hunt hurt identify ignore illustrate imagine
impair implement imply impose impress imprison improve include incur indicate induce indulge
infect infer inflict inform inhabit inherit inhibit initiate inject injure insert insist inspect
inspire install institute instruct integrate intend inter interact interfere interpret interrupt
intervene interview introduce invade invalidate invent invert invest invite invoke involve
irritate isolate issue jam jerk join judge jump justify keep kick kid kidnap kill knock know
launch lay lead lean learn leave lecture lend let lie lift like link listen live locate lock
lodge log look loop lose lower lurk maintain make manage manipulate map march mark marry match
mean meet melt mend mention merge migrate mill mislead misplace misread miss mix modify monitor
motivate mount move muck multiply mumble murder mutter nail name narrow neglect negotiate
nominate notify obey oblige obscure observe obsess obstruct obtain occupy occur offend offer
offset omit operate oppose oppress orient originate outweigh overcome overlap overload overlook
override overwhelm owe pack paint pan pant pardon pass pat pay perceive perform persecute
persist persuade photograph pick pilot pin pinch plague plan plant play please plug poison poke
pop populate portray pose possess post postpone postulate pound pour pray preach precede predict
prefer prepare prescribe present preserve press presume pretend prevail prevent proceed process
proclaim produce prohibit project prolong promise promote prompt pronounce propose prosecute
protect prove provide provoke publish pull pump punch puncture punish punt purge pursue push put
putt puzzle qualify question quit quote rack raid raise ram rape rattle reach react read
rearrange reassure rebuild recall receive reckon reclaim recommend reconcile reconsider recover
recruit redefine redirect reduce refer refine reflect refuse refute regain register regret reign
reinstate reiterate reject relate relax release relieve rely remain remember remind remove
rename rend render renew rent repeat repent rephrase replace report represent reproduce require
reread resemble resent reset reside resign resist resolve respond rest restore restrain restrict
resume retain retire retract retrieve return reuse reveal reverse revert revise rewrite rid ride
ring rip rise roll rotate rout rub run rush sadden sail satisfy save saw say scan scare scatter
scratch scream seal search secure see seek seem sell send separate serve set settle shake share
shed shelve shift shine shoot shorten shoulder shout shove show shut shy sicken sigh simplify
simulate sing sink sit situate skip slash slip smash snag sneak sniff solve spare speak specify
speculate speed spend spill spin spit split spoil sponsor spout spread spy square squash squeeze
stagger stamp stand stare start startle starve stay steady steal steam steer stimulate stir stop
stray strengthen stretch strike strip strive struggle stumble stun submit subscribe substitute
succeed sue suffer suffice suggest suit supervise supply suppose suppress surround survive
suspect suspend sustain swallow swamp swap swear sweep swim swing switch tack tag tailor take
talk tap teach tear telescope tell tempt tend terminate terrify thank think thread threaten
throw thrust tire toast tolerate torture toss touch train transfer transform translate transmit
travel tread treat trigger triple try tunnel turn twist underlie underline understand undertake
undo unify unite unload unlock update upgrade urge utter vanish vary verify violate visit
volunteer vomit vouch wade wait wake wander warn warp wash watch wear wed weigh welcome wheel
whistle whoop win wipe wish withdraw work worry worship wrap write yield zoom
)";

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n')) ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\n') ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

}  // namespace

const WordLists& word_lists() {
  static const WordLists lists{split_words(kNouns), split_words(kAdjectives), split_words(kVerbs)};
  return lists;
}

}  // namespace tttmem::ruler
